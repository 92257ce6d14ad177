"""The page, one builder per area (hysts' multi-tab Spaces): ``model_panel``, ``songs``, ``chat``,
``layout_view``, ``mask_view``, ``walk``, ``attention_view``. Each builds its components inside the
current ``gr.Blocks`` and wires its own events to thin handlers; the logic lives in ``mufun``.
``app.py`` puts them in order and starts the server."""
