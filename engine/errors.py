"""One root exception for the engine, with precise subclasses carrying context.

The API maps these to HTTP problems once; the CLI prints them. Messages are meant
for people: they name the instance, task, element or field concerned.
"""
from __future__ import annotations

from dataclasses import dataclass, field


class RecallError(Exception):
    """Root of every error the engine raises on purpose."""


class NotFound(RecallError):
    """An id (instance, task, definition) does not exist."""


class ConflictError(RecallError):
    """The change lost a race or no longer applies (HTTP 409)."""


class StaleVersion(ConflictError):
    """The caller's expected version (e.g. an If-Match) is not the instance's current one."""


class ConcurrentChange(ConflictError):
    """Another change to the same instance committed first (the optimistic lock lost the race)."""


class TaskNotReady(ConflictError):
    """The task was completed, cancelled or never became ready."""


class NotAssignee(RecallError):
    """The task is assigned to someone else."""


class InvalidState(ConflictError):
    """The instance is not in a state that allows the operation."""


@dataclass
class FieldError:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class FormValidationError(RecallError):
    """Submitted task data does not satisfy the task's JSON Schema form."""

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__("; ".join(str(e) for e in errors))


class BundleInvalid(RecallError):
    """A bundle of BPMN/DMN/forms failed validation; nothing was deployed."""

    def __init__(self, diagnostics: list):
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))


class MessageNotRoutable(RecallError):
    """A message lacks the correlation needed to find its receiver."""


@dataclass
class InstanceFailure:
    """Why an instance is in `error`: shown by the API and `recall status`."""

    message: str
    element_id: str | None = None
    task_id: str | None = None
    line: int | None = None
    kind: str = "script"
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "message": self.message,
            "element_id": self.element_id,
            "task_id": self.task_id,
            "line": self.line,
            "kind": self.kind,
            **self.extra,
        }
