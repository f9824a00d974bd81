"""Answer notes: the training answers closest to a question, put in front of the model.

A model as small as the default one learns the company's tone from a few hundred conversations
but recalls few of its facts when a question is worded differently from training (about 30% of
the key facts on the sample company, docs/specialization.md). Copying a fact that is in front of
it is much easier. So a run keeps its training answers as *notes*: at training time each
conversation is shown the `count` closest answers of *other* training conversations (never its
own, so the model learns to use a note when it fits and to answer from memory when none does),
and at inference the question is shown the closest answers of all training conversations. A
note is the exchange as "Q: question / A: answer"; the notes go into the system prompt after a
fixed header, and the user's own system prompt stays first.

Closeness is the cosine of all-MiniLM-L6-v2 embeddings (`tunesmith.embedding`) of each training
exchange (question and answer) against the question asked. By default a copy of that model is
first tuned on the training questions against their own answers (`data.notes.retriever_epochs`,
`build_index`) and finds the notes in training and at inference; it is saved with the
notes. The model then sees in training the kind of notes it will see at inference: tuned at
inference only, it found the fact more often but the model copied it less (session 20).
A training conversation's notes are chosen by its question, like any other, but shown with the
ones whose answers are closest to its own answer first (`data.notes.train_order`): trained in
question order the model picked among its notes and copied a wrong one as often as it rescued a
wrong first note; trained this way it copies its first note, which the retriever ranks best
(session 21).
Paragraphs repeated across many answers (a sign-off) are left out of the notes: they carry no
fact and cost tokens. An answer shown once (to another question) is not shown again for the
same question.

With a scope guard (`data.notes.scope_guard`, tunesmith.data.scope.ScopeGuard), a question the
data would decline (closer to one of its redirect exchanges, or to a general question outside
its scope, than to any question it answers) is shown the data's closest *redirect* answers
instead: its closest notes are about something else, and a model trained to use its notes
answered off-topic questions with them (40% redirected on the sample company, 65% with the
guard; session 17). Training examples are annotated with it too (tunesmith.data.prepare), so
the conversations that redirect learn to copy a redirect note (session 18).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunesmith.data.scope import ScopeGuard, build_scope_guard, is_redirect_answer
from tunesmith.data.types import Conversation, Document, Message
from tunesmith.errors import TunesmithError

if TYPE_CHECKING:
    from tunesmith.embedding import Retriever

NOTES_HEADER = "Notes from earlier answers:"
NOTES_DIR = "notes"  # the folder a prepared dataset and a run's final/ keep their notes in
NOTES_FILE = "notes.json"
VECTORS_FILE = "notes.safetensors"
FORMAT_VERSION = 3  # 2: notes say whether they redirect; the scope guard's vectors. 3: retriever
READABLE_VERSIONS = (1, 2, 3)
RETRIEVER_FILE = "retriever.safetensors"
CHOICE_VERSION = 5  # bump when the way notes are chosen or ordered changes
NOTES_VERSION = f"{FORMAT_VERSION}.{CHOICE_VERSION}"  # part of the prepared-dataset key
# A paragraph in at least this share of the distinct answers (and in at least BOILERPLATE_MIN
# of them) is boilerplate such as a sign-off.
BOILERPLATE_SHARE = 0.1
BOILERPLATE_MIN = 3
# Questions of a conversation used to find its notes, most recent first (the embedding model
# reads at most 256 tokens, so the latest question must come first).
QUERY_TURNS = 3

# Scores a question against candidate note texts, higher = closer (a language model's query
# likelihood, tunesmith.models.scoring); given by whoever holds a model.
Reranker = Callable[[str, Sequence[str]], Sequence[float]]


@dataclass(frozen=True)
class Note:
    """One training exchange as shown to the model, and where it came from."""

    question: str
    answer: str  # without boilerplate paragraphs
    key: str  # question and whole answer: what is embedded and compared with the question asked
    source: int  # index of the training conversation it belongs to
    redirect: bool = False  # the answer declines or hands over (tunesmith.data.scope)

    @property
    def text(self) -> str:
        """The note as the model reads it."""
        return f"Q: {self.question}\nA: {self.answer}"


class NoteIndex:
    """The notes of a run and their embeddings; finds the closest ones for a conversation."""

    def __init__(
        self,
        notes: Sequence[Note],
        vectors: Any,
        count: int,
        max_chars: int | None = None,
        guard: ScopeGuard | None = None,
        retriever: Retriever | None = None,
    ) -> None:
        if len(notes) != len(vectors):
            raise ValueError(f"{len(notes)} notes but {len(vectors)} vectors")
        self.notes = list(notes)
        self.vectors = vectors
        self.count = count
        self.max_chars = max_chars
        self.guard = guard
        self.retriever = retriever  # embeds questions and notes; None: the base embedding model
        self.reranker: Reranker | None = None
        self.rerank_weight = 0.0
        self.rerank_pool = 0
        # Base-model embeddings of the notes' answers and each source's latest note, made on
        # the first `own_answer_first` query (training only; not saved).
        self._answer_vectors: Any = None
        self._latest_note: dict[int | None, int] = {}

    def __len__(self) -> int:
        return len(self.notes)

    def use_reranker(self, reranker: Reranker, weight: float, pool: int) -> None:
        """Order the `pool` closest notes by cosine + `weight` x `reranker`'s score.

        The embedding alone put a held-out question's fact in the first note 55.6% of the
        time on the sample company, adding the base model's query likelihood (weight 0.5)
        65%; yet a model trained on notes in embedding order recalled fewer facts with the
        re-ranked ones, so it is off by default (docs/specialization.md, session 10).
        """
        self.reranker, self.rerank_weight, self.rerank_pool = reranker, weight, pool

    def closest(
        self,
        queries: Sequence[str],
        exclude: Sequence[int | None] = (),
        asked: Sequence[str] = (),
        *,
        own_answer_first: bool = False,
    ) -> list[list[str]]:
        """The `count` closest distinct note texts for each query, skipping source `exclude[i]`.

        With a reranker, `asked[i]` (the latest question; `queries[i]` when not given) is what
        it scores the candidates against. With `own_answer_first`, the notes of a query with a
        source are ordered by how close their answers are to that source's latest answer (the
        training order, `data.notes.train_order`).
        """
        from tunesmith.embedding import embed

        if not queries:
            return []
        if not self.notes:
            return [[] for _ in queries]
        query_vectors = (self.retriever.embed if self.retriever else embed)(list(queries))
        scores = query_vectors @ self.vectors.T
        excluded = list(exclude) or [None] * len(queries)
        asked = list(asked) or list(queries)
        # A one-question conversation asks what it queries: embed it once (serve, chat). The
        # scope guard's vectors come from the base embedding model, never the retriever.
        same = asked == list(queries) and self.retriever is None
        declined = self.declines(asked, query_vectors if same else None)
        out = []
        for row, skip, question, decline in zip(scores, excluded, asked, declined, strict=True):
            order = row.argsort(descending=True).tolist()
            if decline:
                order = [i for i in order if self.notes[i].redirect]
            if self.reranker is None:
                candidates = self._distinct(order, skip, self.count)
            else:
                pool = self._distinct(order, skip, max(self.rerank_pool, self.count))
                candidates = self._rerank(question, pool, [float(row[i]) for i in pool])
            if own_answer_first and skip is not None:
                candidates = self._by_own_answer(candidates, skip)
            # Closest first: with the closest note last, next to the question, held-out recall
            # on the sample company fell from 61.9% to 54.4% (docs/specialization.md).
            out.append([note.text for note in self._fit(candidates)])
        return out

    def declines(self, questions: Sequence[str], vectors: Any = None) -> list[bool]:
        """For each question, whether the scope guard declines it (all False without one);
        `vectors` are the questions' embeddings when the caller has them."""
        if self.guard is None:
            return [False] * len(questions)
        if vectors is None:
            from tunesmith.embedding import embed

            vectors = embed(list(questions))
        return self.guard.declines(vectors)

    def _distinct(self, order: list[int], skip: int | None, limit: int) -> list[int]:
        """The first `limit` positions of `order` with distinct answers, not from `skip`."""
        picked: list[int] = []
        for index in order:
            note = self.notes[index]
            if note.source == skip or any(note.answer == self.notes[p].answer for p in picked):
                continue
            picked.append(index)
            if len(picked) == limit:
                break
        return picked

    def _by_own_answer(self, candidates: list[int], source: int) -> list[int]:
        """`candidates` ordered by their answers' cosine to `source`'s latest answer."""
        if self._answer_vectors is None:
            from tunesmith.embedding import embed

            self._answer_vectors = embed([note.answer for note in self.notes])
            self._latest_note = {note.source: i for i, note in enumerate(self.notes)}
        own = self._latest_note.get(source)
        if own is None:  # its answers were all boilerplate
            return candidates
        closeness = (self._answer_vectors[candidates] @ self._answer_vectors[own]).tolist()
        # sorted() is stable: ties keep the retriever's order.
        return [i for _, i in sorted(zip(closeness, candidates, strict=True), key=lambda p: -p[0])]

    def _rerank(self, question: str, pool: list[int], cosines: list[float]) -> list[int]:
        assert self.reranker is not None
        extra = self.reranker(question, [self.notes[i].text for i in pool])
        combined = [c + self.rerank_weight * float(x) for c, x in zip(cosines, extra, strict=True)]
        # sorted() is stable: ties keep the embedding's order.
        return [i for _, i in sorted(zip(combined, pool, strict=True), key=lambda p: -p[0])]

    def _fit(self, candidates: list[int]) -> list[Note]:
        """The first `count` candidates; the first always, the next ones within `max_chars`."""
        picked: list[Note] = []
        chars = 0
        for index in candidates:
            note = self.notes[index]
            if picked and self.max_chars is not None and chars + len(note.text) > self.max_chars:
                break
            picked.append(note)
            chars += len(note.text)
            if len(picked) == self.count:
                break
        return picked

    def find(self, messages: Sequence[Message]) -> list[str]:
        """The texts of the notes closest to the conversation's latest questions."""
        (texts,) = self.closest([notes_query(messages)], asked=[latest_question(messages)])
        return texts

    def annotate(self, messages: Sequence[Message]) -> tuple[Message, ...]:
        """The conversation with its closest notes in the system prompt."""
        (annotated,) = self.annotate_all([messages])
        return annotated

    def annotate_all(
        self,
        conversations: Sequence[Sequence[Message]],
        exclude: Sequence[int | None] = (),
        *,
        own_answer_first: bool = False,
    ) -> list[tuple[Message, ...]]:
        """`annotate` for many conversations, their questions embedded together."""
        found = self.closest(
            [notes_query(m) for m in conversations],
            exclude,
            [latest_question(m) for m in conversations],
            own_answer_first=own_answer_first,
        )
        return [with_notes(m, texts) for m, texts in zip(conversations, found, strict=True)]

    def annotate_dicts(self, messages: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
        """`annotate` for chat messages given as {"role", "content"} dicts (chat, serve)."""
        return as_dicts(self.annotate(as_messages(messages)))

    def save(self, folder: Path) -> None:
        """Write `notes.json` and `notes.safetensors` into `folder`."""
        from safetensors.torch import save_file

        from tunesmith.embedding import EMBEDDING_MODEL

        folder.mkdir(parents=True, exist_ok=True)
        body = {
            "version": FORMAT_VERSION,
            "embedding_model": EMBEDDING_MODEL,
            "count": self.count,
            "max_chars": self.max_chars,
            "header": NOTES_HEADER,
            "notes": [
                {
                    "question": n.question,
                    "answer": n.answer,
                    "key": n.key,
                    "source": n.source,
                    "redirect": n.redirect,
                }
                for n in self.notes
            ],
            "scope_guard": None if self.guard is None else self.guard.summary(),
            "retriever": None if self.retriever is None else RETRIEVER_FILE,
        }
        (folder / NOTES_FILE).write_text(json.dumps(body, indent=1), encoding="utf-8")
        tensors = {"vectors": self.vectors.contiguous()}
        if self.guard is not None:
            tensors["scope_inside"] = self.guard.inside.contiguous()
            tensors["scope_outside"] = self.guard.outside.contiguous()
        save_file(tensors, str(folder / VECTORS_FILE))
        if self.retriever is not None:
            self.retriever.save(folder / RETRIEVER_FILE)

    @classmethod
    def load(cls, folder: Path) -> NoteIndex:
        """The index `save` wrote; a clear error if its files are missing or do not match."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = folder / NOTES_FILE
        try:
            body = json.loads(path.read_text(encoding="utf-8"))
            if body.get("version") not in READABLE_VERSIONS:
                raise ValueError(
                    f"format version {body.get('version')}, expected one of {READABLE_VERSIONS}"
                )
            tensors = load_file(str(folder / VECTORS_FILE))
            notes = [
                Note(
                    n["question"],
                    n["answer"],
                    n["key"],
                    int(n["source"]),
                    bool(n.get("redirect", False)),
                )
                for n in body["notes"]
            ]
            guard = _load_guard(body.get("scope_guard"), tensors)
            retriever = _load_retriever(folder, body.get("retriever"))
            vectors, count = tensors["vectors"], int(body["count"])
            return cls(notes, vectors, count, body.get("max_chars"), guard, retriever)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError, SafetensorError) as exc:
            raise TunesmithError(
                f"{folder}: the run's answer notes cannot be read ({exc})",
                hint="retrain the run, or answer without notes (--no-notes)",
            ) from None


def _load_guard(summary: dict[str, int] | None, tensors: dict[str, Any]) -> ScopeGuard | None:
    if summary is None:
        return None  # format 1, or trained with data.notes.scope_guard: false
    return ScopeGuard(
        tensors["scope_inside"],
        tensors["scope_outside"],
        int(summary["declined_questions"]),
        int(summary["general_questions"]),
    )


def _load_retriever(folder: Path, name: str | None) -> Retriever | None:
    if name is None:
        return None  # format 1-2, or trained with data.notes.retriever_epochs: 0
    from tunesmith.embedding import Retriever

    return Retriever.load(folder / name)


def load_notes(parent: Path) -> NoteIndex | None:
    """The notes saved in `parent / NOTES_DIR` (a run's final/), or None when there are none."""
    folder = parent / NOTES_DIR
    return NoteIndex.load(folder) if (folder / NOTES_FILE).is_file() else None


def build_index(
    examples: Sequence[Conversation | Document],
    count: int,
    max_chars: int | None = None,
    *,
    scope_guard: bool = False,
    eval_questions: Sequence[str] = (),
    retriever_epochs: int = 0,
) -> NoteIndex:
    """Notes from every question-and-answer exchange of the training conversations; with
    `scope_guard`, the guard that shows declined questions the redirect notes (None when the
    data has no redirect answer). `eval_questions` never become the guard's examples. With
    `retriever_epochs`, the notes are found by a retriever tuned for that many passes on their
    own questions against their answers (`tunesmith.embedding.tune_retriever`)."""
    import torch

    from tunesmith.embedding import embed, tune_retriever

    exchanges = [
        (source, question, answer)
        for source, example in enumerate(examples)
        if isinstance(example, Conversation)
        for question, answer in _exchanges(example.messages)
    ]
    common = boilerplate([answer for _, _, answer in exchanges])
    notes = []
    for source, question, answer in exchanges:
        kept = strip_paragraphs(answer, common)
        if kept:
            redirect = is_redirect_answer(answer)
            notes.append(Note(question, kept, f"{question}\n{answer}", source, redirect))
    retriever = None
    if retriever_epochs and notes:
        questions, answers = [n.question for n in notes], [n.answer for n in notes]
        retriever = tune_retriever(questions, answers, epochs=retriever_epochs)
    encode = retriever.embed if retriever is not None else embed
    vectors = encode([n.key for n in notes]) if notes else torch.zeros(0, 384)
    guard = None
    if scope_guard:
        guard = build_scope_guard([(q, a) for _, q, a in exchanges], eval_questions)
    return NoteIndex(notes, vectors, count, max_chars, guard, retriever)


def annotate_examples(
    examples: Sequence[Conversation | Document],
    index: NoteIndex,
    *,
    sources: Sequence[int | None] | None = None,
    own_answer_first: bool = False,
) -> list[Conversation | Document]:
    """Conversations with their notes; documents unchanged.

    `sources[i]` is the index position of example i's own conversation, whose notes it never
    sees; None for examples outside the index. With `own_answer_first`, an example with a
    source sees first the notes whose answers are closest to its own.
    """
    sources = list(sources) if sources is not None else [None] * len(examples)
    conversations = [(i, e) for i, e in enumerate(examples) if isinstance(e, Conversation)]
    annotated = index.annotate_all(
        [e.messages for _, e in conversations],
        [sources[i] for i, _ in conversations],
        own_answer_first=own_answer_first,
    )
    out = list(examples)
    for (i, example), messages in zip(conversations, annotated, strict=True):
        out[i] = Conversation(messages, source=example.source, line=example.line)
    return out


def notes_query(messages: Sequence[Message]) -> str:
    """What a conversation's notes are found by: its latest questions, most recent first."""
    questions = [m.content for m in messages if m.role == "user"]
    return "\n".join(reversed(questions[-QUERY_TURNS:]))


def latest_question(messages: Sequence[Message]) -> str:
    """The conversation's last user message ("" when it has none)."""
    return next((m.content for m in reversed(messages) if m.role == "user"), "")


def with_notes(messages: Sequence[Message], texts: Sequence[str]) -> tuple[Message, ...]:
    """The messages with a notes block after the system prompt (or as the system prompt)."""
    if not texts:
        return tuple(messages)
    block = NOTES_HEADER + "\n\n" + "\n\n".join(texts)
    if messages and messages[0].role == "system":
        first = Message("system", f"{messages[0].content}\n\n{block}")
        return (first, *messages[1:])
    return (Message("system", block), *messages)


def as_messages(messages: Sequence[Mapping[str, str]]) -> list[Message]:
    """Chat messages given as {"role", "content"} dicts, as `Message`s."""
    return [Message(m["role"], m["content"]) for m in messages]  # type: ignore[arg-type]


def as_dicts(messages: Sequence[Message]) -> list[dict[str, str]]:
    """`Message`s as {"role", "content"} dicts."""
    return [{"role": m.role, "content": m.content} for m in messages]


def boilerplate(answers: Sequence[str]) -> set[str]:
    """Paragraphs found in so many different answers that they carry no fact (a sign-off).

    Answers are counted once per distinct text, so a fact answered verbatim in many
    conversations is never taken for boilerplate.
    """
    distinct = set(answers)
    counts = Counter(p for answer in distinct for p in set(_paragraphs(answer)))
    floor = max(BOILERPLATE_MIN, BOILERPLATE_SHARE * len(distinct))
    return {p for p, n in counts.items() if n >= floor}


def strip_paragraphs(answer: str, paragraphs: set[str]) -> str:
    """The answer without the given paragraphs."""
    return "\n\n".join(p for p in _paragraphs(answer) if p not in paragraphs)


def _paragraphs(text: str) -> list[str]:
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def _exchanges(messages: Sequence[Message]) -> list[tuple[str, str]]:
    return [
        (m.content, messages[i + 1].content)
        for i, m in enumerate(messages[:-1])
        if m.role == "user" and messages[i + 1].role == "assistant"
    ]
