"""OpenAI's official Python client against a running `iris serve`, unchanged
(scripts/openai-client-test.sh starts the server and runs this):

    python tools/serve/openai_client.py BASE_URL MODEL IMAGE PROMPT EXPECTED_TEXT_FILE

a chat with the image as a data URL (greedy: the answer must equal
`iris generate --chat`, whose text is in EXPECTED_TEXT_FILE), the same
chat streamed, the model list, and bad requests answered with the client's
own error classes.
"""

import base64
import sys

import openai


def main() -> None:
    base, model, image, prompt, expected = sys.argv[1:6]
    want = open(expected, encoding="utf-8").read()
    client = openai.OpenAI(base_url=base + "/v1", api_key="unused", max_retries=0)
    url = "data:image/png;base64," + base64.b64encode(open(image, "rb").read()).decode()
    messages = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}},
                                             {"type": "text", "text": prompt}]}]

    assert model in [m.id for m in client.models.list()], "the model is listed"

    r = client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0)
    assert r.choices[0].message.content == want, f"{r.choices[0].message.content!r} != {want!r}"
    assert r.usage.completion_tokens == 12 and r.choices[0].finish_reason == "length", r

    stream = client.chat.completions.create(model=model, messages=messages, max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    pieces, usage = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        usage = chunk.usage or usage
    assert "".join(pieces) == want, f"streamed {''.join(pieces)!r} != {want!r}"
    assert usage is not None and usage.completion_tokens == 12, usage

    try:
        client.chat.completions.create(model="no-such-model", messages=messages, max_tokens=2)
        raise AssertionError("an unknown model was served")
    except openai.NotFoundError as e:
        assert "no-such-model" in str(e), e
    bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,!!"}}]}]
    try:
        client.chat.completions.create(model=model, messages=bad, max_tokens=2)
        raise AssertionError("bad base64 was accepted")
    except openai.BadRequestError as e:
        assert e.status_code == 400 and "base64" in str(e), e
    print(f"openai {openai.__version__} client against iris serve ({model}): chat, stream, models, errors ok")


if __name__ == "__main__":
    main()
