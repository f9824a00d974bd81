"""Batched generation for one model in memory: a scheduler thread and a step-by-step decoder.

Requests wait in a bounded queue (beyond it the server answers 429). Between decoding steps
the scheduler thread admits waiting requests while the batch has free slots (continuous
batching): their prompts are prefilled together and their KV cache joins the running batch's
cache. Every step then decodes one token for every running sequence, so concurrent requests
share each forward pass. A sequence that finishes, or whose client went away, leaves the batch
before the next step, freeing its slot at once.

All model work happens on the engine's own thread, including changes to the model (loading or
removing adapters), which other threads hand over with `call()`; the model is never touched by
two threads at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch

from tunesmith.models.loader import stop_token_ids
from tunesmith.serve import batch as batching
from tunesmith.serve.errors import APIError, QueueFull
from tunesmith.serve.sampling import SamplingParams, apply_penalties, make_generator, sample_token
from tunesmith.serve.text import TextStream

log = logging.getLogger("tunesmith.serve")

BASE_ADAPTER = "__base__"  # peft's name for "no adapter" in a mixed-adapter batch

GENERIC_FAILURE = "generation failed; the server log has the details"

T = TypeVar("T")


@dataclass
class Delta:
    """New text for choice `index`."""

    index: int
    text: str


@dataclass
class Finished:
    """Choice `index` ended: reason is "stop" or "length"; tokens is its completion length."""

    index: int
    reason: str
    tokens: int


@dataclass
class Failed:
    """The request could not be completed (the server logs why)."""

    message: str


class GenerationRequest:
    """One HTTP request's work: `n` choices per prompt, and the events they produce.

    The engine thread pushes events into an asyncio queue on the server's event loop.
    """

    def __init__(
        self,
        prompts: list[list[int]],
        params: SamplingParams,
        *,
        n: int = 1,
        adapter: str | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        self.prompts = prompts
        self.params = params
        self.n = n
        self.adapter = adapter
        self.loop = loop or asyncio.get_running_loop()
        self.events: asyncio.Queue[Delta | Finished | Failed] = asyncio.Queue()
        self._cancelled = threading.Event()

    @property
    def width(self) -> int:
        """How many sequences (batch rows) the request needs."""
        return len(self.prompts) * self.n

    @property
    def prompt_tokens(self) -> int:
        return sum(len(prompt) for prompt in self.prompts)

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop generating for this request (its client went away); safe from any thread."""
        self._cancelled.set()

    def emit(self, event: Delta | Finished | Failed) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, event)
        except RuntimeError:  # the event loop has closed: nobody is listening any more
            self.cancel()


@dataclass(eq=False)
class Sequence:
    """One choice being generated: one row of the batch."""

    request: GenerationRequest
    index: int
    prompt: list[int]
    text: TextStream
    generator: torch.Generator | None
    output: list[int] = field(default_factory=list)
    finish_reason: str | None = None

    @property
    def params(self) -> SamplingParams:
        return self.request.params

    @property
    def done(self) -> bool:
        return self.finish_reason is not None or self.request.cancelled


class Engine:
    """Serves generation requests for one model with a scheduler thread."""

    def __init__(
        self, model: Any, tokenizer: Any, *, name: str, max_batch: int = 8, max_queue: int = 64
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.max_batch = max_batch
        self.max_queue = max_queue
        self.mixed_adapters = False  # rows pass peft's adapter_names (set when adapters load)
        self.device = next(model.parameters()).device
        self.stop_ids = set(stop_token_ids(model, tokenizer))
        pad = tokenizer.pad_token_id
        self.pad_id = pad if pad is not None else 0
        self.cache_key = batching.cache_argument(model)
        # The first encode may reconfigure the Rust tokenizer (padding, truncation), which
        # must not overlap with this engine's decodes: do it now, before the thread starts.
        tokenizer("warm-up", add_special_tokens=False)
        self.generated_tokens = 0  # a running total, for tests and monitoring
        self._cond = threading.Condition()
        self._waiting: deque[GenerationRequest] = deque()
        self._controls: deque[tuple[Callable[[], Any], Future]] = deque()
        self._batch: batching.Batch | None = None
        self._running = 0
        self._closed = False
        self._close_reason = "the server is shutting down"
        self._thread = threading.Thread(target=self._run, name=f"engine-{name}", daemon=True)
        self._thread.start()

    # --- called from other threads -------------------------------------------------------

    def submit(self, request: GenerationRequest) -> None:
        """Queue a request, or refuse it with 429 when `max_queue` requests already wait."""
        with self._cond:
            if self._closed:
                raise APIError(503, f"model {self.name!r} is being removed", type="server_error")
            queued, free = self._queue_state()
            idle = self._running == 0 and not self._waiting  # a wide request may use it all
            fits_now = queued == 0 and (request.width <= free or idle)
            if not fits_now and queued >= self.max_queue:
                raise QueueFull(self.name, self.max_queue)
            self._waiting.append(request)
            self._cond.notify()

    def call(self, action: Callable[[], T]) -> T:
        """Run `action` on the engine thread between steps (model changes), and wait for it."""
        future: Future = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError(f"engine {self.name} is closed")
            self._controls.append((action, future))
            self._cond.notify()
        return future.result()

    def close(self, reason: str = "the server is shutting down") -> None:
        """Stop the thread; unfinished requests get an error."""
        with self._cond:
            self._closed = True
            self._close_reason = reason
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=30)

    def stats(self) -> dict[str, int]:
        with self._cond:
            return {"running": self._running, "waiting": len(self._waiting)}

    def _queue_state(self) -> tuple[int, int]:
        """(requests that must wait for a slot, slots left for the rest). Requests that fit in
        the free slots are about to be admitted and do not count against the queue."""
        free = self.max_batch - self._running
        queued = 0
        for request in self._waiting:
            if queued == 0 and request.width <= free:
                free -= request.width
            else:
                queued += 1
        return queued, free

    # --- the engine thread ---------------------------------------------------------------

    def _run(self) -> None:
        torch.set_grad_enabled(False)
        while self._wait_for_work():
            self._run_controls()
            with torch.inference_mode():
                self._drop_done()
                self._guarded(self._admit)
                if self._batch is not None:
                    self._guarded(self._decode_step)
        self._abort_all(self._close_reason)

    def _wait_for_work(self) -> bool:
        with self._cond:
            while not (self._closed or self._waiting or self._controls or self._batch):
                self._cond.wait()
            return not self._closed

    def _run_controls(self) -> None:
        while True:
            with self._cond:
                if not self._controls:
                    return
                action, future = self._controls.popleft()
            try:
                future.set_result(action())
            except BaseException as exc:  # handed back to the caller, who reports it
                future.set_exception(exc)

    def _guarded(self, step: Callable[[], None]) -> None:
        """A failing step fails the requests in the batch, never the server."""
        try:
            step()
        except Exception:
            log.exception("generation failed for model %s", self.name)
            self._abort_batch(GENERIC_FAILURE)

    def _admit(self) -> None:
        requests = self._take_admissible()
        if not requests:
            return
        try:
            new, tokens = self._prefill(requests)
        except Exception:  # e.g. out of memory on a long prompt: the running batch goes on
            log.exception("prefill failed for model %s", self.name)
            _fail(requests, GENERIC_FAILURE)
            return
        try:
            self._batch = new if self._batch is None else batching.join(self._batch, new)
        except Exception:
            _fail(requests, GENERIC_FAILURE)
            raise
        self._set_running(len(self._batch.rows))
        for seq, token in zip(new.rows, tokens, strict=True):
            self._accept(seq, token)

    def _prefill(self, requests: list[GenerationRequest]) -> tuple[batching.Batch, list[int]]:
        sequences = [seq for request in requests for seq in self._sequences(request)]
        extra = self._adapter_kwargs(sequences)
        prompts = [seq.prompt for seq in sequences]
        cache, mask, logits = batching.prefill(
            self.model, prompts, self.pad_id, self.cache_key, extra
        )
        tokens = self._choose(sequences, logits)
        positions = mask.sum(dim=1)  # the next token's position: the real tokens before it
        return batching.Batch(sequences, cache, mask, _ids(tokens, self.device), positions), tokens

    def _take_admissible(self) -> list[GenerationRequest]:
        """Waiting requests that fit in the free slots, oldest first."""
        running = len(self._batch.rows) if self._batch else 0
        if running and not batching.joinable(self._batch.cache):
            return []  # this cache cannot take rows mid-generation: wait for the batch to end
        taken: list[GenerationRequest] = []
        free = self.max_batch - running
        with self._cond:
            while self._waiting:
                request = self._waiting[0]
                if request.cancelled:
                    self._waiting.popleft()
                    continue
                if request.width > free and (running or taken):
                    break
                taken.append(self._waiting.popleft())
                free -= request.width
        return taken

    def _sequences(self, request: GenerationRequest) -> list[Sequence]:
        sequences = []
        for p, prompt in enumerate(request.prompts):
            for choice in range(request.n):
                index = p * request.n + choice
                generator = None
                if not request.params.greedy:
                    generator = make_generator(request.params, index, self.device)
                text = TextStream(self.tokenizer, request.params.stop)
                sequences.append(Sequence(request, index, prompt, text, generator))
        return sequences

    def _decode_step(self) -> None:
        batch = self._batch
        logits = batching.decode(
            self.model, batch, self.cache_key, self._adapter_kwargs(batch.rows)
        )
        tokens = self._choose(batch.rows, logits)
        batch.next_ids = _ids(tokens, self.device)
        for seq, token in zip(batch.rows, tokens, strict=True):
            self._accept(seq, token)

    def _adapter_kwargs(self, rows: list[Sequence]) -> dict[str, Any]:
        if not self.mixed_adapters:
            return {}
        return {"adapter_names": [seq.request.adapter or BASE_ADAPTER for seq in rows]}

    def _choose(self, rows: list[Sequence], logits: torch.Tensor) -> list[int]:
        greedy = logits.argmax(dim=-1).tolist()  # one call covers the common greedy rows
        tokens = []
        for row, seq in enumerate(rows):
            params = seq.params
            if params.greedy and not params.penalised:
                tokens.append(greedy[row])
                continue
            row_logits = logits[row].clone()
            apply_penalties(row_logits, seq.output, params)
            tokens.append(sample_token(row_logits, params, seq.generator))
        return tokens

    def _accept(self, seq: Sequence, token: int) -> None:
        """Record a token; release its text; end the sequence on a stop or the token cap."""
        if seq.done:
            return
        seq.output.append(token)
        self.generated_tokens += 1
        if token in self.stop_ids:
            self._finish(seq, "stop", seq.text.flush())
            return
        piece, hit_stop = seq.text.push(token)
        if hit_stop:
            self._finish(seq, "stop", piece)
        elif len(seq.output) >= seq.params.max_tokens:
            self._finish(seq, "length", piece + seq.text.flush())
        elif piece:
            seq.request.emit(Delta(seq.index, piece))

    def _finish(self, seq: Sequence, reason: str, piece: str) -> None:
        seq.finish_reason = reason
        if piece:
            seq.request.emit(Delta(seq.index, piece))
        seq.request.emit(Finished(seq.index, reason, len(seq.output)))

    def _drop_done(self) -> None:
        batch = self._batch
        if batch is None:
            return
        keep = [row for row, seq in enumerate(batch.rows) if not seq.done]
        if len(keep) == len(batch.rows):
            return
        self._batch = batching.select(batch, keep) if keep else None
        self._set_running(len(keep))

    def _set_running(self, count: int) -> None:
        with self._cond:
            self._running = count

    # --- ending requests early -------------------------------------------------------------

    def abort_where(self, predicate: Callable[[GenerationRequest], bool], message: str) -> None:
        """On the engine thread: fail running and waiting requests that match (e.g. an adapter
        being removed)."""
        with self._cond:
            matching = [r for r in self._waiting if predicate(r)]
            for request in matching:
                self._waiting.remove(request)
        if self._batch is not None:
            matching += [seq.request for seq in self._batch.rows if predicate(seq.request)]
        _fail(_unique(matching), message)
        self._drop_done()

    def _abort_batch(self, message: str) -> None:
        if self._batch is not None:
            _fail(_unique([seq.request for seq in self._batch.rows]), message)
        self._batch = None
        self._set_running(0)

    def _abort_all(self, message: str) -> None:
        self._abort_batch(message)
        with self._cond:
            waiting, self._waiting = list(self._waiting), deque()
            controls, self._controls = list(self._controls), deque()
        _fail(waiting, message)
        for _, future in controls:
            future.set_exception(RuntimeError(message))


def _ids(tokens: list[int], device: torch.device) -> torch.Tensor:
    return torch.tensor(tokens, dtype=torch.long, device=device)


def _unique(requests: list[GenerationRequest]) -> list[GenerationRequest]:
    return list({id(request): request for request in requests}.values())


def _fail(requests: list[GenerationRequest], message: str) -> None:
    for request in requests:
        request.emit(Failed(message))
        request.cancel()
