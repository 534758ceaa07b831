"""The issue's targets as checkable numbers: a measured ratio, a bound, pass or fail."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Criterion:
    name: str
    value: float
    op: str  # ">=" or "<="
    bound: float

    @property
    def passed(self) -> bool:
        return self.value >= self.bound if self.op == ">=" else self.value <= self.bound

    def markdown(self) -> str:
        return f"- {'PASS' if self.passed else 'FAIL'} {self.name}: {self.value:.3g} (target {self.op} {self.bound:g})"

    def as_dict(self) -> dict[str, object]:
        return {"name": self.name, "value": self.value, "op": self.op, "bound": self.bound, "passed": self.passed}
