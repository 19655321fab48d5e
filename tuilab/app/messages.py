"""Messages from the training worker to the UI thread (`post_message` is thread-safe)."""

from __future__ import annotations

from textual.message import Message

from tuilab.runtime.events import BatchProgress, Event


class TrainingEvent(Message):
    """One runtime event; unprocessed batch progress is replaced by newer progress."""

    def __init__(self, event: Event, session: int) -> None:
        super().__init__()
        self.event = event
        self.session = session

    def can_replace(self, message: Message) -> bool:
        """A newer progress message of the same trial supersedes this one (cheap coalescing)."""
        return (
            isinstance(self.event, BatchProgress)
            and isinstance(message, TrainingEvent)
            and isinstance(message.event, BatchProgress)
            and message.event.trial == self.event.trial
        )


class TrainingDone(Message):
    """The worker finished: the run's status, or the error that prevented it."""

    def __init__(self, status: str, error: str = "", session: int = 0) -> None:
        super().__init__()
        self.status = status
        self.error = error
        self.session = session
