"""An input-token estimate for upstreams that cannot tokenize for us.

Over the chat-completions body an adapter would send (`chat_translation.build_chat_body`):

    tokens = ceil(characters / 4)            # text, tool-call names and arguments, tools JSON
           + 4 per message                   # role and the template's turn markers
           + 85 per image or file part       # a flat charge; their real cost depends on the model
           + 3                               # the assistant turn the prompt ends by opening

`characters` counts the text of every message (string content, text parts, `tool_call_id`s,
tool-call names and arguments) and the compact JSON of the `tools` array. Four characters per
token is the usual rule of thumb for English with BPE vocabularies; code, non-Latin scripts and
long JSON schemas usually need more tokens per character. Treat the result as an estimate to
within tens of percent — not something to budget a context window to the last token with.
"""

from __future__ import annotations

from typing import Any

import orjson

JSONDict = dict[str, Any]

CHARS_PER_TOKEN = 4
PER_MESSAGE = 4
PER_ATTACHMENT = 85
REPLY_PRIMING = 3


def estimate_chat_tokens(body: JSONDict) -> int:
    """The estimate above for a chat-completions request body (`messages`, optional `tools`)."""
    characters = 0
    attachments = 0
    messages = body.get("messages") or []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            characters += len(content)
        elif isinstance(content, list):
            for part in content:
                if part.get("type") == "text":
                    characters += len(part.get("text") or "")
                else:
                    attachments += 1
        characters += len(message.get("tool_call_id") or "")
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            characters += len(function.get("name") or "") + len(function.get("arguments") or "")
    if body.get("tools"):
        characters += len(orjson.dumps(body["tools"]).decode())
    return (-(-characters // CHARS_PER_TOKEN) + PER_MESSAGE * len(messages)
            + PER_ATTACHMENT * attachments + REPLY_PRIMING)
