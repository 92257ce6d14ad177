"""Four users streaming at once through one app: each gets its own complete answer, in queue
order; cancelling one leaves the others whole."""
import html
import time

from mufun.examples import EXAMPLES, FOLDER, ensure_examples


def _submit(client, name, max_new=24):
    from gradio_client import handle_file

    return client.submit([handle_file(str(FOLDER / name))], "", EXAMPLES[name][1], max_new, 0, 0, 1, -1,
                         api_name="/ask")


def _queued(job, within=60.0):
    """Wait until the server has placed ``job`` in its queue (or started it): what a person sees
    as "in line", so the next submission is definitely behind it."""
    from gradio_client.utils import Status

    end = time.monotonic() + within
    while job.status().code in (Status.STARTING, Status.JOINING_QUEUE):
        assert time.monotonic() < end, "the server never queued the submission"
        time.sleep(0.01)
    return job


def _answer(job):
    chat, status, *_ = job.result()
    return html.unescape(chat[-1]["content"][0]["text"]), status


def test_four_users_each_get_their_own_answer_and_one_can_cancel(server):
    from gradio_client import Client

    ensure_examples()
    names = list(EXAMPLES)[:4]
    solo = {}  # each asked alone, in a fresh session (a session keeps its chat history)
    for n in names:
        solo[n] = _answer(_submit(Client(server, verbose=False), n))[0]
    clients = [Client(server, verbose=False) for _ in names]
    finished = {}
    jobs = []
    for k, (c, n) in enumerate(zip(clients, names)):
        job = _submit(c, n)
        job.add_done_callback(lambda f, k=k: finished.setdefault(k, time.perf_counter()))
        jobs.append(_queued(job))  # in line before the next user submits: a definite order
    jobs[2].cancel()  # the third user gives up while queued or streaming
    for k, (job, n) in enumerate(zip(jobs, names)):
        if k == 2:
            continue
        text, status = _answer(job)
        assert "stop:" in status
        assert text == solo[n], (n, text, solo[n])  # whole, and nobody else's
    done_order = sorted((t, k) for k, t in finished.items() if k != 2)
    assert [k for _, k in done_order] == [0, 1, 3]  # first come, first served
