"""``decoded_builder``: the decoders' fast constructor builds what ``__init__`` builds."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Address

import pytest

from mip4 import samples
from mip4.wire._util import decoded_builder
from mip4.wire.extensions import GeneralizedAuthentication, MobileHomeAuthentication
from mip4.wire.handoff import HandoffReply, HandoffRequest
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import (
    RegionalRegistrationReply,
    RegionalRegistrationRequest,
    RegistrationReply,
    RegistrationRequest,
)


@pytest.mark.parametrize(
    "cls",
    [
        RegistrationRequest,
        RegistrationReply,
        RegionalRegistrationRequest,
        RegionalRegistrationReply,
        HandoffRequest,
        HandoffReply,
        MobileHomeAuthentication,
        GeneralizedAuthentication,
    ],
)
def test_decoded_messages_equal_init_built_ones(cls: type) -> None:
    """Every decoded sample equals the same message rebuilt by ``__init__`` from its init
    fields, hashes alike, and keeps its non-init fields (``_wire``) set."""
    seen = 0
    for frame in samples.control_frames():
        message = decode_control_message(frame.message.encode())  # type: ignore[attr-defined]
        for candidate in (message, *getattr(message, "extensions", ())):
            if type(candidate) is not cls:
                continue
            init = {f.name: getattr(candidate, f.name) for f in dataclasses.fields(cls) if f.init}
            rebuilt = cls(**init)
            assert candidate == rebuilt and hash(candidate) == hash(rebuilt)
            for f in dataclasses.fields(cls):
                getattr(candidate, f.name)  # every slot is set
            seen += 1
    assert seen, f"no {cls.__name__} among the samples"


def test_the_builder_sets_every_field_in_order_and_refuses_other_classes() -> None:
    build = decoded_builder(RegistrationRequest)
    a, b, c = (IPv4Address(f"198.18.0.{i}") for i in (1, 2, 3))
    message = build(0, 30, a, b, c, 7, (), b"raw")
    assert message == RegistrationRequest(
        lifetime=30, home_address=a, home_agent=b, care_of_address=c, identification=7
    )
    assert message._wire == b"raw"
    with pytest.raises(dataclasses.FrozenInstanceError):
        message.lifetime = 1  # type: ignore[misc]

    class Plain:
        pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    with pytest.raises(TypeError, match="not a dataclass"):
        decoded_builder(Plain)
    with pytest.raises(TypeError, match="__post_init__"):
        decoded_builder(Checked)
