"""Fixtures: a real OpenAI-compatible server (llama-cpp-python's) on a tiny model made here.

Why a real server: a translator to OpenAI chat completions is only as good as
what it survives from a real one (streamed tool-call chunks that repeat their
id, empty chunks, argument JSON cut off at ``max_tokens``...). No model can be
downloaded, so ``make_tiny_model`` writes one: a random-weight ``llama``
architecture model of about 0.5 MB whose output layer is biased so that it
says printable text, ends its replies by itself (``<|im_end|>``) and closes
the strings of grammar-forced tool-call JSON (``"``).

Shape: the model is generated once into a cache directory, under a name that
hashes the generator, so a changed generator makes a new file; the server is
started once per pytest(-xdist) worker, the first time a test asks for it, and
stopped at the end of the session. llama-cpp-python serves one request at a
time: keep ``max_tokens`` small.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

INSTALL_HINT = "install the test extra as the README says: python -m pip install -c constraints.txt -e '.[test]'"
START_TIMEOUT = 60  # seconds until /v1/models answers

#: Everything the generated model depends on (with the generator's source, it names the cache file).
PARAMS = {
    "seed": 20261125,
    "n_layer": 2,
    "n_embd": 64,
    "n_head": 4,
    "n_ff": 128,
    "n_ctx": 16384,  # a Claude Code request (24 tool schemas) is ~10k byte-level tokens
    #: Pairs merged by the BPE tokenizer, in rank order (GPT-2 byte alphabet: "Ġ" is a space).
    "merges": ["Ġ t", "h e", "i n", "Ġ a", "e r", "Ġt he", "o n", "Ġ s"],
    #: Logit bias of each kind of token; printable ASCII and merges get 0.
    "bias_other": -30.0,  # control bytes, non-ASCII bytes, <|endoftext|>, <|im_start|>
    "bias_quote": 4.0,  # '"': forced tool-call JSON strings close
    "bias_im_end": 4.0,  # <|im_end|>: replies end by themselves (never first)
    "noise": 1.6,  # standard deviation of the random part of the logits
}

#: ChatML, as tool-calling models have it: the tools (if any) in a system turn
#: first, so the prompt's size counts them; content as a string, a list of
#: parts, or null next to ``tool_calls``; ``tool`` messages.
CHAT_TEMPLATE = (
    "{%- if tools -%}"
    "{{- '<|im_start|>system\\n# Tools\\n<tools>\\n' -}}"
    "{%- for tool in tools -%}{{- tool | tojson -}}{{- '\\n' -}}{%- endfor -%}"
    "{{- '</tools><|im_end|>\\n' -}}"
    "{%- endif -%}"
    "{%- for message in messages -%}"
    "{%- set content = message['content'] -%}"
    "{%- if content is none -%}{%- set content = '' -%}"
    "{%- elif content is not string -%}"
    "{%- set ns = namespace(text='') -%}"
    "{%- for part in content -%}{%- if part['type'] == 'text' -%}{%- set ns.text = ns.text + part['text'] -%}"
    "{%- endif -%}{%- endfor -%}"
    "{%- set content = ns.text -%}"
    "{%- endif -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + content -}}"
    "{%- if message['tool_calls'] -%}{%- for call in message['tool_calls'] -%}"
    "{{- '\\n<tool_call>\\n{\"name\": \"' + call['function']['name'] + '\", \"arguments\": '"
    " + call['function']['arguments'] + '}\\n</tool_call>' -}}"
    "{%- endfor -%}{%- endif -%}"
    "{{- '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"
)

CONTROL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
NEWLINE = "Ċ"  # the byte "\n" in GPT-2's byte alphabet
CONSTANT = 8.0  # channel 0 of every embedding


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte alphabet: each byte as a printable character."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


def vocabulary() -> tuple[list[str], list[int], list[str]]:
    """Tokens, their types (1 normal, 3 control) and the merges."""
    alphabet = _bytes_to_unicode()
    tokens = [alphabet[b] for b in range(256)]
    merges = list(PARAMS["merges"])
    tokens += ["".join(merge.split(" ")) for merge in merges]
    types = [1] * len(tokens) + [3] * len(CONTROL_TOKENS)
    return tokens + CONTROL_TOKENS, types, merges


def _output_bias(tokens: list[str]) -> list[float]:
    alphabet = _bytes_to_unicode()
    printable = {alphabet[b] for b in range(32, 127)}
    bias = []
    for token in tokens:
        if token == '"':
            bias.append(PARAMS["bias_quote"])
        elif token == "<|im_end|>":
            bias.append(PARAMS["bias_im_end"])
        elif token in CONTROL_TOKENS or not all(ch in printable for ch in token):
            bias.append(PARAMS["bias_other"])
        else:
            bias.append(0.0)
    return bias


def make_tiny_model(path: str | os.PathLike[str]) -> None:
    """Write the tiny model to ``path`` (the same bytes for the same ``PARAMS``)."""
    import gguf
    import numpy as np

    p = PARAMS
    rng = np.random.default_rng(p["seed"])
    n_embd, n_ff, n_head = p["n_embd"], p["n_ff"], p["n_head"]
    tokens, types, merges = vocabulary()
    n_vocab = len(tokens)
    eos = tokens.index("<|im_end|>")

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("dateline-tiny")
    writer.add_context_length(p["n_ctx"])
    writer.add_embedding_length(n_embd)
    writer.add_block_count(p["n_layer"])
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head)
    writer.add_rope_dimension_count(n_embd // n_head)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_vocab_size(n_vocab)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")  # "gpt2" is rejected as an unknown pre-tokenizer
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(eos)
    writer.add_eot_token_id(eos)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    def weights(*shape: int, scale: float) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    # Channel 0 of the residual stream is a constant (in every embedding; the
    # layers do not write it), so after the final norm it carries the output
    # bias through column 0 of the output matrix. Channel 1 is set only by the
    # newline, which ends the prompt ("<|im_start|>assistant\n"): it keeps
    # <|im_end|> from being the first token, so replies are not empty. The
    # other channels are noise that depends on the tokens seen.
    embeddings = weights(n_vocab, n_embd, scale=1.0)
    embeddings[:, 0] = CONSTANT
    embeddings[:, 1] = 0.0
    embeddings[tokens.index(NEWLINE), 1] = CONSTANT
    writer.add_tensor("token_embd.weight", embeddings)
    for layer in range(p["n_layer"]):
        name = f"blk.{layer}"
        writer.add_tensor(f"{name}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        for proj in ("attn_q", "attn_k", "attn_v"):
            writer.add_tensor(f"{name}.{proj}.weight", weights(n_embd, n_embd, scale=n_embd**-0.5))
        attn_out = weights(n_embd, n_embd, scale=0.5 * n_embd**-0.5)
        attn_out[:2, :] = 0.0
        writer.add_tensor(f"{name}.attn_output.weight", attn_out)
        writer.add_tensor(f"{name}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        writer.add_tensor(f"{name}.ffn_gate.weight", weights(n_ff, n_embd, scale=n_embd**-0.5))
        writer.add_tensor(f"{name}.ffn_up.weight", weights(n_ff, n_embd, scale=n_embd**-0.5))
        down = weights(n_embd, n_ff, scale=0.5 * n_ff**-0.5)
        down[:2, :] = 0.0
        writer.add_tensor(f"{name}.ffn_down.weight", down)
    writer.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    # After the norm channel 0 is about CONSTANT / rms, the noise channels about 1 / rms.
    rms = ((CONSTANT**2 + n_embd - 2) / n_embd) ** 0.5
    output = weights(n_vocab, n_embd, scale=p["noise"] * rms / (n_embd - 2) ** 0.5)
    output[:, 0] = np.array(_output_bias(tokens), dtype=np.float32) * rms / CONSTANT
    output[:, 1] = 0.0
    # The end of a reply and the quote get a fixed logit: the bias alone; never
    # the end right after the prompt.
    for special in ("<|im_end|>", '"'):
        output[tokens.index(special), 1:] = 0.0
    output[tokens.index("<|im_end|>"), 1] = -10.0 * rms / CONSTANT
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def model_key() -> str:
    """A hash of the generator: its parameters, template and code."""
    source = "".join(inspect.getsource(f) for f in (_bytes_to_unicode, vocabulary, _output_bias, make_tiny_model))
    blob = json.dumps([PARAMS, CHAT_TEMPLATE, CONTROL_TOKENS, NEWLINE, CONSTANT, source], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def cached_model() -> Path:
    """The tiny model's file, generated on first use (atomically: several workers may race)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dateline-tests"
    path = cache / f"tiny-{model_key()}.gguf"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache, prefix=".tiny-", suffix=".gguf.tmp")
        os.close(fd)
        try:
            make_tiny_model(tmp)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaServer:
    """A running ``python -m llama_cpp.server``."""

    proc: subprocess.Popen[bytes]
    port: int
    model: str  #: the model name it serves (and answers with)
    model_path: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        """For an OpenAI client: ``http://127.0.0.1:PORT/v1``."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """Where the non-OpenAI routes live (``/extras/tokenize``...)."""
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_llama_server(model_path: Path, log_path: Path, *, model: str = "tiny") -> LlamaServer:
    """Start the server on a free port and wait until it answers, or fail with its log."""
    port = _free_port()
    command = [
        sys.executable, "-m", "llama_cpp.server",
        "--model", str(model_path),
        "--model_alias", model,
        "--host", "127.0.0.1",
        "--port", str(port),
        "--n_ctx", str(PARAMS["n_ctx"]),
        "--n_threads", "1",
        "--n_threads_batch", "1",
    ]  # fmt: skip
    log = log_path.open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    server = LlamaServer(proc, port, model, model_path, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {' '.join(command)}\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/models", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            stop_llama_server(server)
            pytest.fail(
                f"llama_cpp.server did not answer within {START_TIMEOUT} s: {' '.join(command)}\n{server.log()}"
            )
        time.sleep(0.2)


def stop_llama_server(server: LlamaServer) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama-cpp-python's OpenAI-compatible server on the tiny model (one per worker)."""
    for module in ("llama_cpp", "gguf", "fastapi", "sse_starlette", "starlette_context"):  # the server's too
        if importlib.util.find_spec(module) is None:
            pytest.fail(f"the Python package {module!r} is not installed: {INSTALL_HINT}", pytrace=False)
    model_path = cached_model()
    server = start_llama_server(model_path, tmp_path_factory.mktemp("llama") / "server.log")
    try:
        yield server
    finally:
        stop_llama_server(server)
