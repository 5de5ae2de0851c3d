"""Enumerations of the programme's resources (values are part of the API contract)."""

from __future__ import annotations

from enum import StrEnum


class LinkStatus(StrEnum):
    pending = "pending"
    active = "active"
    revoked = "revoked"


class Module(StrEnum):
    workplace_cooperation = "workplace_cooperation"
    score_basics = "score_basics"
    score4climate = "score4climate"


PREREQUISITE_MODULES = frozenset({Module.workplace_cooperation, Module.score_basics})


class TrainingStatus(StrEnum):
    planned = "planned"
    ongoing = "ongoing"
    completed = "completed"
    cancelled = "cancelled"


class ParticipantRole(StrEnum):
    manager = "manager"
    worker = "worker"


class Gender(StrEnum):
    female = "female"
    male = "male"
    other = "other"
    undisclosed = "undisclosed"


class IdeaCategory(StrEnum):
    energy = "energy"
    water = "water"
    materials = "materials"
    waste = "waste"
    chemicals = "chemicals"
    emissions = "emissions"
    circularity = "circularity"
    productivity = "productivity"
    osh = "osh"


class IdeaStatus(StrEnum):
    proposed = "proposed"
    approved = "approved"
    in_progress = "in_progress"
    implemented = "implemented"
    verified = "verified"
    rejected = "rejected"


class VisitKind(StrEnum):
    intake = "intake"
    consultation = "consultation"
    follow_up = "follow_up"
    monitoring = "monitoring"


class VisitStatus(StrEnum):
    scheduled = "scheduled"
    completed = "completed"
    cancelled = "cancelled"


class ResultSource(StrEnum):
    self_reported = "self_reported"
    expert = "expert"


class MetricDirection(StrEnum):
    increase = "increase"
    decrease = "decrease"


class OutputUnit(StrEnum):
    """The unit in which an enterprise counts its production output."""

    kilogram = "kilogram"
    tonne = "tonne"
    liter = "liter"
    cubic_meter = "cubic_meter"
    square_meter = "square_meter"
    kilowatt_hour = "kilowatt_hour"
    megajoule = "megajoule"
    piece = "piece"
    hour = "hour"


class MetricKind(StrEnum):
    flow = "flow"
    level = "level"


class AttachmentParent(StrEnum):
    """What an attachment evidences."""

    visit = "visit"
    result = "result"
    idea = "idea"
