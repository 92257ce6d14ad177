import pytest

from mufun.prompt import SYSTEM, PromptError, Turn, build_segments, eos_ids, render, tokenize


def test_real_qwen3_ids(tokenizer):
    assert tokenizer("What genre is this song?", add_special_tokens=False).input_ids == [3838, 17328, 374, 419, 5492, 30]
    assert tokenizer("USER: ", add_special_tokens=False).input_ids == [6448, 25, 220]
    assert tokenizer(" ASSISTANT:", add_special_tokens=False).input_ids == [35560, 3846, 2821, 25]
    assert eos_ids(tokenizer) == (151645, 151643)


def test_single_turn_template_character_for_character():
    s = render(build_segments([Turn("What genre is this song?")], n_audio=1))
    assert s == SYSTEM + " USER: <audio>\nWhat genre is this song? ASSISTANT:"
    assert s.startswith("A chat between a curious user and an artificial intelligence assistant. The assistant "
                        "gives helpful, detailed, and polite answers to the user's questions. USER: ")


def test_multi_turn_template():
    s = render(build_segments([Turn("<audio>\nq1", "a1"), Turn("q2")], n_audio=1))
    assert s == SYSTEM + " USER: <audio>\nq1 ASSISTANT: a1<|im_end|>USER: q2 ASSISTANT:"


def test_tag_is_kept_where_the_user_put_it():
    s = render(build_segments([Turn("Compare <audio> with <audio>, please")], n_audio=2))
    assert s.endswith("USER: Compare <audio> with <audio>, please ASSISTANT:")


def test_no_audio_no_tag():
    assert "<audio>" not in render(build_segments([Turn("Hello")], n_audio=0))


@pytest.mark.parametrize("text,n,msg", [("<audio> <audio> hi", 1, "2 <audio> tags but 1 song"),
                                        ("<audio> hi", 2, "1 <audio> tag but 2 songs"),
                                        ("<audio> hi", 0, "1 <audio> tag but 0 songs"),
                                        ("   ", 1, "empty"), ("x" * 100_000, 1, "characters long")])
def test_mismatches_are_errors_naming_both_counts(text, n, msg):
    with pytest.raises(PromptError, match=msg):
        build_segments([Turn(text)], n_audio=n)


def test_pieces_are_tokenized_apart_and_joined_by_the_placeholder(tokenizer):
    t = tokenize(build_segments([Turn("What genre is this song?")], 1), tokenizer)
    i = t.input_ids.index(-200)
    assert t.input_ids.count(-200) == 1
    # the piece after the tag is tokenized on its own: "\n" then the question ids
    assert list(t.input_ids[i + 1:i + 8]) == [198, 3838, 17328, 374, 419, 5492, 30]
    assert list(t.input_ids[-4:]) == [35560, 3846, 2821, 25]
    assert t.input_ids[i - 3:i] == (13872, 25, 220)  # " USER", ":", " " (the space before the tag stays)
    # every id decodes back to the exact templated string
    text = "".join(tokenizer.decode([x]) if x != -200 else "<audio>" for x in t.input_ids)
    assert text == t.text


def test_token_kinds(tokenizer):
    t = tokenize(build_segments([Turn("<audio>\nq1", "a1"), Turn("q2")], 1), tokenizer)
    kinds = dict(zip(t.strings, t.kinds))
    assert kinds["<|im_end|>"] == "special" and kinds["<audio>"] == "audio"
    assert t.kinds[0] == "system" and t.kinds[-1] == "template"
    assert [k for k, turn in zip(t.kinds, t.turns) if k == "answer" and turn == 0]
