"""Write the tiny llama GGUF that the test suite serves with llama.cpp.

The model is generated, never downloaded: a 2-layer llama (hidden 64, 4 query
heads over 2 KV heads, SwiGLU 192, RoPE base 1e6, context 8192) with a GPT-2
style byte-level BPE tokenizer trained here on an embedded corpus, and a
ChatML chat template with tools in the Qwen2.5/Hermes style.  The same seed
always gives the same bytes.

Random, but well behaved
------------------------
Most weights are seeded noise, so the text is word salad.  A few channels of
the residual stream are reserved and wired by hand so that the salad is usable
in tests; no random weight reads or writes them:

* ``CONST`` holds the same value at every position.  After the final RMSNorm
  its column of the output matrix is a per-token logit bias, a unigram prior:
  corpus words are favoured, raw non-ASCII and control bytes are never
  sampled, ``<|im_end|>`` has enough mass that a reply ends after about
  ``mean_reply_tokens`` tokens, and ``"`` has ``quote_share`` of the mass so
  that grammar-constrained JSON strings close quickly.
* Token flags come from the embeddings: ``LINE_START`` (the token ends with a
  newline, as the one that opens the assistant turn does; EOS is suppressed
  there, so a reply is never empty), ``JSON_END`` (it ends with ``}``),
  ``CALL_START`` / ``CALL_END`` (it is ``<tool_call>`` / ``</tool_call>``),
  and the keys of the detectors below.
* Detectors are attention heads whose query is ``CONST`` and whose key is a
  token flag, both on the slowest rotary pair of the head (with RoPE base 1e6
  it turns by less than 0.05 rad over 8192 positions, so the score ignores
  distance).  A flagged token anywhere earlier in the context takes all the
  attention, and its value writes 1 to an output channel; otherwise the head
  averages zeros.  Layer 0 looks for ``<tools>`` (``HAS_TOOLS``) and
  ``<tool_response>`` (``HAS_RESULT``), layer 1 for ``<tool_call>``
  (``HAS_CALL``).
* The output matrix combines them: tools offered, no result, no call yet and
  the start of a line make ``<tool_call>`` near-certain; ``<tool_call>`` is
  followed by a newline; inside a call, a ``}`` or a line start makes the
  single ``</tool_call>`` token likely wherever a grammar allows it; after
  ``</tool_call>`` the turn ends.  So a chat with tools gets one tool call at
  once, and once the result is in the context the model answers in text: an
  agent loop terminates.  The template therefore never writes ``<tool_call>``
  outside assistant turns.  The call's JSON itself is random unless the server
  constrains it with a grammar, as llama.cpp's server does.

``--plain`` drops all of this: plain random logits, for comparison.

Usage: ``python tests/support/tiny_model.py OUT.gguf [--seed N] [--n-layer ...]``
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import math
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Literal

import gguf
import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float32]

# A small, varied, ASCII-only text.  It has no double quotes on purpose: the
# byte `"` is then the only token that can close a JSON string, which keeps
# `quote_share` exact.
CORPUS = """\
The harbor town wakes early. Fishing boats leave before the sun is up, and the
bakery on the corner opens its shutters at six. By seven the market square is
full of people buying bread, cheese, apples, onions and fresh fish. The old
clock above the town hall is always four minutes slow, and nobody minds.

On Monday the weather was cold and windy. A storm came in from the west after
lunch, with heavy rain and thunder over the hills. On Tuesday the sky cleared,
the temperature rose to 18 degrees, and children played by the river until the
evening. The forecast for the weekend promises light clouds and a gentle
breeze from the south.

The library sits at the end of a narrow street. It holds maps, letters,
novels, recipes and the diaries of sailors who crossed the ocean long ago. The
librarian keeps a careful list of every book that leaves the building, and she
knows which window gives the best light for reading in the afternoon.

To make a simple soup, cut two onions, three carrots and a handful of potatoes
into small pieces. Warm some oil in a large pot, add the vegetables and stir
them for a few minutes. Pour in water or stock, add salt, pepper and a bay
leaf, and let everything simmer for half an hour. Serve it hot with bread.

A train leaves the station every hour. The journey to the capital takes about
three hours and passes through forests, farms, small villages and a long
tunnel under the mountains. Travelers read, sleep, talk quietly or watch the
fields roll by. The conductor checks each ticket with a friendly nod.

Every tool has a purpose. A hammer drives nails, a saw cuts wood, a compass
finds the north, and a calendar keeps track of days and meetings. A good
assistant listens first, asks a clear question when something is missing, and
answers with care. When a task needs a lookup, it calls the right function,
reads the result, and then explains what it found in plain words.

The garden behind the school grows tomatoes, beans, lettuce, herbs and tall
yellow flowers. Students measure the plants each week and write the numbers in
a notebook. Last spring the tallest sunflower reached 240 centimeters, which
was higher than the roof of the tool shed.

In the workshop, an old clockmaker repairs watches, music boxes and the gears
of a church bell. His hands are slow but steady. He says that patience is the
most important part of any machine, because small parts must move together in
order, one step after another, without rushing.

The city council met on Thursday to discuss new bicycle lanes, a larger park,
cheaper tickets for the bus and a festival in July. The mayor thanked the
volunteers who cleaned the beach, planted trees along the avenue and painted
the bridge blue and white. The meeting ended late, but most people seemed
happy with the plan.

Numbers tell stories too. The town has 4 schools, 12 bridges, 3 museums and
about 9000 residents. The average price of a coffee is 2 euros, a room at the
inn costs 80 euros per night, and the ferry to the island runs 5 times a day
in summer and twice a day in winter.

At night the lighthouse turns its beam across the water. Ships follow the
light past the rocks and into the quiet bay. Owls call from the pine trees,
cats walk along the walls, and the streets grow silent until the first boats
return with their nets full of silver fish.

Scientists at the small observatory study stars, planets, comets and the
moon. They record the brightness of distant galaxies, compare their data with
older measurements, and publish short reports. Visitors may look through the
big telescope on clear Friday nights, if they book a place in advance.
"""

# Control tokens first, then text tokens that the template writes.
SPECIAL_TOKENS: tuple[tuple[str, gguf.TokenType], ...] = (
    ("<|endoftext|>", gguf.TokenType.CONTROL),
    ("<|im_start|>", gguf.TokenType.CONTROL),
    ("<|im_end|>", gguf.TokenType.CONTROL),
    ("<tool_call>", gguf.TokenType.USER_DEFINED),
    ("</tool_call>", gguf.TokenType.USER_DEFINED),
    ("<tools>", gguf.TokenType.USER_DEFINED),
    ("</tools>", gguf.TokenType.USER_DEFINED),
    ("<tool_response>", gguf.TokenType.USER_DEFINED),
    ("</tool_response>", gguf.TokenType.USER_DEFINED),
)

# ChatML with tools in the Qwen2.5/Hermes style.  llama.cpp's template
# analyser renders it to find the tool-call syntax, so the system turn lists
# the tools inside <tools></tools> but never writes <tool_call> itself (the
# model's call detector would fire on it).
CHAT_TEMPLATE = """\
{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    {{- '# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n' }}
    {{- 'You are provided with function signatures within XML tags:\\n<tools>' }}
    {%- for tool in tools %}
        {{- '\\n' }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- '\\n</tools>\\n\\nFor each function call, return a json object with function name and ' }}
    {{- 'arguments within tool_call XML tags.<|im_end|>\\n' }}
{%- elif messages[0].role == 'system' %}
    {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first) \
or (message.role == 'assistant' and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
    {%- elif message.role == 'assistant' %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {%- if tool_call.arguments is string %}
                {{- tool_call.arguments }}
            {%- else %}
                {{- tool_call.arguments | tojson }}
            {%- endif %}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.index0 == 0 or messages[loop.index0 - 1].role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# GPT-2's pre-tokenizer, restricted to ASCII (the corpus is ASCII, and there
# \\p{L} and \\p{N} are just letters and digits).
_PRETOKEN = re.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+"""
)


@dataclass(frozen=True)
class TinyModelConfig:
    """Shape and behaviour of the generated model (defaults: the test model)."""

    n_layer: int = 2
    n_embd: int = 64
    n_head: int = 4
    n_head_kv: int = 2
    n_ff: int = 192
    n_ctx: int = 8192
    n_vocab: int = 1024
    rope_base: float = 1e6
    dtype: Literal["f32", "f16"] = "f32"
    wired: bool = True  # False: plain random logits
    # Nominal, at temperature 1 with no truncation.  llama.cpp's default
    # sampler (top-k 40, min-p 0.05) ends replies sooner: 42 gives a mean of
    # about 25 tokens there.
    mean_reply_tokens: float = 42.0
    quote_share: float = 0.06

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


# ---------------------------------------------------------------------------
# Tokenizer


def byte_alphabet() -> list[str]:
    """GPT-2's reversible map from byte value to a printable character."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("\xa1"), ord("\xac") + 1),
        *range(ord("\xae"), ord("\xff") + 1),
    ]
    shifted = iter(range(256, 512))
    return [chr(b) if b in printable else chr(next(shifted)) for b in range(256)]


_BYTE_OF = {c: b for b, c in enumerate(byte_alphabet())}


def train_bpe(text: str, n_merges: int) -> tuple[list[tuple[str, str]], Counter[tuple[str, ...]]]:
    """Learn up to `n_merges` byte-pair merges from `text`.

    Returns the merges in rank order and the text's pre-tokens as the merges
    segment them, with their counts.  Ties go to the lexicographically
    smallest pair, so the result depends on nothing but the text.
    """
    alphabet = byte_alphabet()
    words = Counter(
        "".join(alphabet[b] for b in piece.encode()) for piece in _PRETOKEN.findall(text)
    )
    seqs = [list(word) for word in words]
    freqs = list(words.values())

    counts: Counter[tuple[str, str]] = Counter()
    where: defaultdict[tuple[str, str], set[int]] = defaultdict(set)
    for i, seq in enumerate(seqs):
        for pair in itertools.pairwise(seq):
            counts[pair] += freqs[i]
            where[pair].add(i)
    # A max-heap with lazy deletion: stale entries are skipped when popped.
    heap = [(-n, pair) for pair, n in counts.items()]
    heapq.heapify(heap)

    merges: list[tuple[str, str]] = []
    while heap and len(merges) < n_merges:
        neg, pair = heapq.heappop(heap)
        if counts[pair] != -neg or neg == 0:
            continue
        merges.append(pair)
        touched: set[tuple[str, str]] = set()
        for i in sorted(where.pop(pair)):
            seq, f = seqs[i], freqs[i]
            for old in itertools.pairwise(seq):
                counts[old] -= f
                touched.add(old)
            seqs[i] = seq = _merge(seq, pair)
            for new in itertools.pairwise(seq):
                counts[new] += f
                where[new].add(i)
                touched.add(new)
        for p in sorted(touched):
            if counts[p] > 0:
                heapq.heappush(heap, (-counts[p], p))

    segmented: Counter[tuple[str, ...]] = Counter()
    for seq, f in zip(seqs, freqs, strict=True):
        segmented[tuple(seq)] += f
    return merges, segmented


def _merge(seq: list[str], pair: tuple[str, str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(seq):
        if i + 1 < len(seq) and seq[i] == pair[0] and seq[i + 1] == pair[1]:
            out.append(seq[i] + seq[i + 1])
            i += 2
        else:
            out.append(seq[i])
            i += 1
    return out


@dataclass(frozen=True)
class Vocab:
    tokens: list[str]  # GPT-2 byte-alphabet spelling; specials verbatim
    types: list[int]
    merges: list[str]
    corpus: Counter[tuple[str, ...]]  # the corpus's pre-tokens, segmented

    def id(self, token: str) -> int:
        return self.tokens.index(token)

    def raw(self, token_id: int) -> bytes:
        """The bytes a (non-special) token stands for."""
        return bytes(_BYTE_OF[c] for c in self.tokens[token_id])


def build_vocab(n_vocab: int) -> Vocab:
    alphabet = byte_alphabet()
    n_merges = n_vocab - len(alphabet) - len(SPECIAL_TOKENS)
    merges, corpus = train_bpe(corpus_text(), n_merges)
    if len(merges) != n_merges:
        raise ValueError(f"the corpus only yields {len(merges)} merges, {n_merges} needed")
    tokens = [*alphabet, *(a + b for a, b in merges), *(t for t, _ in SPECIAL_TOKENS)]
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(SPECIAL_TOKENS))
    types += [kind for _, kind in SPECIAL_TOKENS]
    if len(set(tokens)) != len(tokens):
        raise ValueError("duplicate tokens")  # every merge must add a new token
    return Vocab(tokens, [int(t) for t in types], [f"{a} {b}" for a, b in merges], corpus)


def corpus_text() -> str:
    """The corpus with its source line wraps undone (newlines end paragraphs)."""
    return "\n\n".join(" ".join(p.split()) for p in CORPUS.split("\n\n"))


# ---------------------------------------------------------------------------
# Weights

# Reserved residual channels (see the module docstring).
(
    CONST,  # sqrt(n_embd) everywhere: carries the unigram prior
    LINE_START,  # the token ends with a newline
    JSON_END,  # the token ends with "}"
    TOOLS_KEY,  # the token is <tools>
    RESULT_KEY,  # the token is <tool_response>
    CALL_START,  # the token is <tool_call>
    CALL_END,  # the token is </tool_call>
    HAS_TOOLS,  # <tools> is in the context (layer 0)
    HAS_RESULT,  # <tool_response> is in the context (layer 0)
    HAS_CALL,  # <tool_call> is in the context (layer 1)
    N_RESERVED,
) = range(11)

NEVER = -40.0  # a logit bias that keeps a token from ever being sampled
WORD_TEMPER = 0.7  # prior of a word ~ count**WORD_TEMPER: rarer words show up too
STRUCTURE_SHARE = 0.03  # prior mass of : { } [ ]
FRAGMENT_SHARE = 0.02  # prior mass of word pieces and whitespace
NOISE_STD = 0.15  # std of a random residual channel, against CONST = sqrt(n_embd)
LOGIT_NOISE = 1.0  # std of the random part of a logit
FINAL_SPREAD = 0.3  # measured mean square of a random channel after the final norm
DETECTOR_GAIN = 12.0  # q and k of a detector: a flagged key scores ~34, others 0
GATE = 40.0  # weight of one condition in a wired logit (see _wire_output)


def build_weights(cfg: TinyModelConfig, vocab: Vocab, seed: int) -> dict[str, Matrix]:
    """All tensors, named as llama.cpp expects, with numpy shapes (out, in)."""
    rng = np.random.default_rng(seed)
    d, hd, n_vocab = cfg.n_embd, cfg.head_dim, len(vocab.tokens)
    if cfg.wired and (cfg.n_layer < 2 or cfg.n_head_kv < 2 or d <= N_RESERVED):
        raise ValueError(f"the wiring needs 2 layers, 2 KV heads, over {N_RESERVED} channels")
    reserved = N_RESERVED if cfg.wired else 0
    free = np.arange(reserved, d)  # the channels that random weights read and write
    sigma = NOISE_STD if cfg.wired else 1.0

    def noise(rows: int, cols: int, std: float) -> Matrix:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * std).astype(np.float32)

    def norm_gains(depth: int) -> Matrix:
        # Bring every channel to ~1 after RMSNorm (whose divisor is ~1, as
        # CONST dominates): CONST is sqrt(d), flags are 1, and random channels
        # grow by at most sigma per sublayer (attention averages, so less).
        g = np.ones(d, dtype=np.float32)
        g[free] = 1.0 / (sigma * math.sqrt(1 + depth))
        if cfg.wired:
            g[CONST] = 1.0 / math.sqrt(d)
        return g

    t: dict[str, Matrix] = {}
    embd = np.zeros((n_vocab, d), dtype=np.float32)
    embd[:, free] = noise(n_vocab, len(free), sigma)
    if cfg.wired:
        embd[:, CONST] = math.sqrt(d)
        for token_id in range(n_vocab - len(SPECIAL_TOKENS)):
            raw = vocab.raw(token_id)
            embd[token_id, LINE_START] = raw.endswith(b"\n")
            embd[token_id, JSON_END] = raw.endswith(b"}")
        for token, channel in (
            ("<tools>", TOOLS_KEY),
            ("<tool_response>", RESULT_KEY),
            ("<tool_call>", CALL_START),
            ("</tool_call>", CALL_END),
        ):
            embd[vocab.id(token), channel] = 1.0
    t["token_embd.weight"] = embd

    # kv head -> (key flag, output channel) for the detector heads of each layer.
    detectors: list[dict[int, tuple[int, int]]] = [{} for _ in range(cfg.n_layer)]
    if cfg.wired:
        detectors[0] = {0: (TOOLS_KEY, HAS_TOOLS), 1: (RESULT_KEY, HAS_RESULT)}
        detectors[1] = {0: (CALL_START, HAS_CALL)}

    group = cfg.n_head // cfg.n_head_kv  # query heads per kv head
    slow = hd - 2  # first dim of the slowest rotary pair
    for layer in range(cfg.n_layer):
        p = f"blk.{layer}."
        wq = np.zeros((cfg.n_head * hd, d), dtype=np.float32)
        wk = np.zeros((cfg.n_head_kv * hd, d), dtype=np.float32)
        wv = np.zeros((cfg.n_head_kv * hd, d), dtype=np.float32)
        wo = np.zeros((d, cfg.n_head * hd), dtype=np.float32)
        n_random = cfg.n_head - group * len(detectors[layer])
        for kv in range(cfg.n_head_kv):
            kv_rows = slice(kv * hd, (kv + 1) * hd)
            heads = range(kv * group, (kv + 1) * group)
            if kv in detectors[layer]:
                key, out = detectors[layer][kv]
                q = heads[0]  # the other query heads of the group stay idle
                wq[q * hd + slow, CONST] = DETECTOR_GAIN
                wk[kv * hd + slow, key] = DETECTOR_GAIN
                wv[kv * hd, key] = 1.0
                wo[out, q * hd] = 1.0
                continue
            wk[kv_rows, free] = noise(hd, len(free), 1 / math.sqrt(len(free)))
            wv[kv_rows, free] = noise(hd, len(free), 1 / math.sqrt(len(free)))
            for h in heads:
                wq[h * hd : (h + 1) * hd, free] = noise(hd, len(free), 1 / math.sqrt(len(free)))
                wo[np.ix_(free, np.arange(h * hd, (h + 1) * hd))] = noise(
                    len(free), hd, sigma / math.sqrt(hd * n_random)
                )
        t[p + "attn_norm.weight"] = norm_gains(2 * layer)
        t[p + "attn_q.weight"] = wq
        t[p + "attn_k.weight"] = wk
        t[p + "attn_v.weight"] = wv
        t[p + "attn_output.weight"] = wo

        gate = np.zeros((cfg.n_ff, d), dtype=np.float32)
        up = np.zeros((cfg.n_ff, d), dtype=np.float32)
        down = np.zeros((d, cfg.n_ff), dtype=np.float32)
        gate[:, free] = noise(cfg.n_ff, len(free), 1 / math.sqrt(len(free)))
        up[:, free] = noise(cfg.n_ff, len(free), 1 / math.sqrt(len(free)))
        # silu(g) * u has a mean square of about 0.35 for unit normal g, u.
        down[free, :] = noise(len(free), cfg.n_ff, sigma / math.sqrt(0.35 * cfg.n_ff))
        t[p + "ffn_norm.weight"] = norm_gains(2 * layer + 1)
        t[p + "ffn_gate.weight"] = gate
        t[p + "ffn_up.weight"] = up
        t[p + "ffn_down.weight"] = down

    t["output_norm.weight"] = norm_gains(2 * cfg.n_layer)
    output = np.zeros((n_vocab, d), dtype=np.float32)
    output[:, free] = noise(n_vocab, len(free), LOGIT_NOISE / math.sqrt(FINAL_SPREAD * len(free)))
    if cfg.wired:
        _wire_output(output, cfg, vocab)
    t["output.weight"] = output
    return t


def _wire_output(output: Matrix, cfg: TinyModelConfig, vocab: Vocab) -> None:
    """Write the prior and the hand-made rules into the output matrix.

    A reserved channel is ~1 after the final norm when its condition holds and
    0 otherwise, so a column is the logit change that the condition brings.
    """
    eos, quote, newline = vocab.id("<|im_end|>"), vocab.id('"'), vocab.id("\u010a")
    call, call_end = vocab.id("<tool_call>"), vocab.id("</tool_call>")
    prior = unigram_prior(cfg, vocab)
    # These logits are calibrated or gated exactly: no random part.
    output[[eos, quote, call, call_end]] = 0.0
    output[:, CONST] = prior

    # Tools offered, no result and no call yet, start of a line: <tool_call>.
    # Either of the first two conditions alone leaves it at -GATE/2.
    output[call, CONST] = -1.5 * GATE
    output[call, [LINE_START, HAS_TOOLS]] = GATE
    output[call, [HAS_RESULT, HAS_CALL]] = -2.5 * GATE
    # Inside a call, the end of a JSON object or a new line is where it closes.
    output[call_end, CONST] = -1.5 * GATE
    output[call_end, [LINE_START, JSON_END, HAS_CALL]] = GATE
    output[call_end, HAS_RESULT] = -2.5 * GATE
    output[newline, CALL_START] = 0.75 * GATE  # <tool_call> then a newline
    output[eos, [LINE_START, CALL_START]] = -0.75 * GATE  # never an empty reply
    output[eos, CALL_END] = 1.25 * GATE  # </tool_call> ends the turn


def unigram_prior(cfg: TinyModelConfig, vocab: Vocab) -> npt.NDArray[np.float32]:
    """Per-token logit bias: corpus words, plus calibrated EOS and `"`.

    Only printable ASCII and newlines can ever be sampled.  Tokens that are a
    whole corpus pre-token (a word with its leading space, or punctuation)
    share most of the mass, tempered toward rarer words; JSON's structural
    characters get a fixed share so that constrained JSON stays compact; all
    other text tokens (word pieces, whitespace) share the rest.
    """
    prior = np.full(len(vocab.tokens), NEVER, dtype=np.float64)
    quote = vocab.id('"')
    text = [
        i
        for i in range(len(vocab.tokens) - len(SPECIAL_TOKENS))
        if i != quote and all(0x20 <= b < 0x7F or b == 0x0A for b in vocab.raw(i))
    ]
    structure = [vocab.id(c) for c in ":{}[]"]
    whole: Counter[int] = Counter()
    for pieces, n in vocab.corpus.items():
        if len(pieces) == 1 and not vocab.raw(vocab.id(pieces[0])).isspace():
            whole[vocab.id(pieces[0])] += n
    whole_ids = sorted(whole.keys() - set(structure))
    rest = sorted(set(text) - set(whole_ids) - set(structure))

    words = np.array([whole[i] for i in whole_ids], dtype=np.float64) ** WORD_TEMPER
    prior[whole_ids] = np.log(words / words.sum() * (1 - STRUCTURE_SHARE - FRAGMENT_SHARE))
    prior[structure] = math.log(STRUCTURE_SHARE / len(structure))
    prior[rest] = math.log(FRAGMENT_SHARE / len(rest))
    # The random part of a logit inflates the text mass by E[e^noise].
    text_mass = math.exp(LOGIT_NOISE**2 / 2)
    p_eos, p_quote = 1.0 / cfg.mean_reply_tokens, cfg.quote_share
    others = 1.0 - p_eos - p_quote
    prior[vocab.id("<|im_end|>")] = math.log(text_mass * p_eos / others)
    prior[quote] = math.log(text_mass * p_quote / others)
    return prior.astype(np.float32)


# ---------------------------------------------------------------------------
# GGUF


def build_tiny_model(path: Path, *, seed: int = 0, config: TinyModelConfig | None = None) -> Path:
    """Write the tiny model to `path` (same seed and config, same bytes)."""
    cfg = config or TinyModelConfig()
    vocab = build_vocab(cfg.n_vocab)
    tensors = build_weights(cfg, vocab, seed)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(path, "llama")
    w.add_name(f"responsa-tiny-seed{seed}")
    w.add_context_length(cfg.n_ctx)
    w.add_embedding_length(cfg.n_embd)
    w.add_block_count(cfg.n_layer)
    w.add_feed_forward_length(cfg.n_ff)
    w.add_head_count(cfg.n_head)
    w.add_head_count_kv(cfg.n_head_kv)
    w.add_rope_dimension_count(cfg.head_dim)
    w.add_rope_freq_base(cfg.rope_base)
    w.add_layer_norm_rms_eps(1e-6)
    w.add_vocab_size(len(vocab.tokens))
    f16 = cfg.dtype == "f16"
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")
    w.add_token_list(vocab.tokens)
    w.add_token_types(vocab.types)
    w.add_token_merges(vocab.merges)
    w.add_bos_token_id(vocab.id("<|endoftext|>"))
    w.add_pad_token_id(vocab.id("<|endoftext|>"))
    w.add_eos_token_id(vocab.id("<|im_end|>"))
    w.add_add_bos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    for name, tensor in tensors.items():
        # Norm gains stay F32 in every llama.cpp model.
        w.add_tensor(name, tensor.astype(np.float16) if f16 and tensor.ndim == 2 else tensor)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main(argv: Sequence[str] | None = None) -> int:
    defaults = TinyModelConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="where to write the GGUF")
    parser.add_argument("--seed", type=int, default=0)
    for f in fields(TinyModelConfig):
        if f.name in ("wired", "dtype"):
            continue
        flag = "--" + f.name.replace("_", "-")
        parser.add_argument(flag, type=type(getattr(defaults, f.name)), default=None)
    parser.add_argument("--dtype", choices=["f32", "f16"], default=None)
    parser.add_argument("--plain", action="store_true", help="no wiring: plain random logits")
    args = parser.parse_args(argv)

    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TinyModelConfig)
        if getattr(args, f.name, None) is not None
    }
    if args.plain:
        overrides["wired"] = False
    cfg = replace(defaults, **overrides)
    start = time.perf_counter()
    out = build_tiny_model(args.out, seed=args.seed, config=cfg)
    elapsed = time.perf_counter() - start
    print(f"{out}: {out.stat().st_size} bytes in {elapsed:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
