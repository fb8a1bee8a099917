"""Stop sequences: the model's answer ends where the first one starts.

Found by Dateline itself for every backend that generates text (the built-in
model, an OpenAI-compatible upstream), never left to an upstream, so the cut
and the ``stop_sequence`` reported are the same whoever answers.
"""

from __future__ import annotations

from collections.abc import Iterable


def find_stop(text: str, sequences: Iterable[str]) -> tuple[int, str] | None:
    """Where the first stop sequence in ``text`` starts, and which it is (empty ones never match)."""
    best = None
    for sequence in sequences:
        if sequence:
            at = text.find(sequence)
            if at != -1 and (best is None or at < best[0]):
                best = (at, sequence)
    return best


class StopScanner:
    """Text let through as it streams, up to the first stop sequence.

    A sequence may arrive split across chunks, so the last ``len(longest) - 1``
    characters are held back until more text (or the end) shows they are not
    the start of one.
    """

    def __init__(self, sequences: Iterable[str]) -> None:
        self.sequences = [s for s in sequences if s]
        self.hold = max(map(len, self.sequences), default=1) - 1
        self.held = ""

    def feed(self, text: str) -> tuple[str, str | None]:
        """The text safe to send, and the sequence matched (the text is then cut before it)."""
        self.held += text
        found = find_stop(self.held, self.sequences)
        if found is not None:
            safe, self.held = self.held[: found[0]], ""
            return safe, found[1]
        cut = len(self.held) - self.hold
        if cut <= 0:
            return "", None
        safe, self.held = self.held[:cut], self.held[cut:]
        return safe, None

    def flush(self) -> str:
        rest, self.held = self.held, ""
        return rest
