"""Authenticators of a length no algorithm produces (RFC 5944 §3.5.1): decoded, never valid.

The authenticator's length depends on the algorithm of the security association its SPI
selects (RFC 5944 §3.5.1: "the length of the Authenticator depends on the algorithm"), which
the decoder does not know, so types 32/33/34 decode with any Length >= 4 (the SPI) and 36
with any Length >= 20 (RFC 4721 §5). The agents' check is where the length is judged: an
authenticator that is not HMAC-MD5's 16 bytes never verifies, even when its first 16 bytes
are the correct MAC, and the message is a counted BAD_AUTHENTICATOR drop that changes no state.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from mip4.core.actions import DropReason, SendPacket, SetMobilityBinding
from mip4.wire import auth
from mip4.wire.errors import AuthenticatorLengthError
from mip4.wire.extensions import (
    ForeignHomeAuthentication,
    GeneralizedAuthentication,
    GeneralizedAuthSubtype,
    MobileForeignAuthentication,
    MobileHomeAuthentication,
)
from mip4.wire.messages import decode_control_message
from mip4.wire.registration import RegistrationReply, RegistrationRequest
from mip4.wire.registration import ReplyCode as C
from tests.core.test_authenticated_denials import MN_HA, at_ha, request, sends
from tests.core.test_post_registration import (
    from_fa1,
    post_net,
    registered,
    seal_fa_fa,
    source_request,
)
from tests.core.topology import HOME, build

KEY = b"a shared secret!"
RRQ = RegistrationRequest(
    lifetime=1800,
    home_address=HOME,
    home_agent=HOME,
    care_of_address=HOME,
    identification=0x0102030405060708,
)


def resized(wire: bytes, change: Any) -> bytes:
    """``wire`` with its last extension's authenticator changed by ``change`` (the Length
    follows the new size)."""
    message = decode_control_message(wire)
    last = message.extensions[-1]
    new = dataclasses.replace(last, authenticator=change(last.authenticator))  # type: ignore[type-var]
    return dataclasses.replace(message, extensions=(*message.extensions[:-1], new)).encode()


CHANGES = {
    "truncated-to-12": lambda a: a[:12],  # an HMAC-MD5-96 style truncation
    "one-byte-short": lambda a: a[:-1],
    "one-byte-long": lambda a: a + b"\x00",
    "sha1-sized": lambda a: a + bytes(4),  # 20 bytes, as HMAC-SHA1 would give
}


@pytest.mark.parametrize(
    "template",
    [
        MobileHomeAuthentication(spi=0x100, authenticator=b""),
        MobileForeignAuthentication(spi=0x200, authenticator=b""),
        ForeignHomeAuthentication(spi=0x300, authenticator=b""),
        GeneralizedAuthentication(
            subtype=GeneralizedAuthSubtype.FA_FA, spi=0x400, authenticator=b""
        ),
    ],
    ids=["mn-ha-32", "mn-fa-33", "fa-ha-34", "fa-fa-36"],
)
@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_wrong_length_decodes_but_never_verifies(template: Any, change: Any) -> None:
    sealed = auth.seal(RRQ, template, KEY)
    assert auth.verify(sealed, 0, KEY)
    wire = resized(sealed.encode(), change)
    try:
        message = decode_control_message(wire)
    except AuthenticatorLengthError as exc:
        # Only type 36 has a floor (Length 20 = SPI + 16, RFC 4721 §5).
        assert isinstance(template, GeneralizedAuthentication)
        assert len(change(bytes(16))) < 16 and exc.field == "extension.length"
        return
    assert message.encode() == wire  # kept byte for byte
    # The first 16 bytes (or all of them) are the right MAC, and still it does not verify.
    assert not auth.verify(message, 0, KEY)


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_home_agent_counts_a_wrong_length_mn_ha_authenticator(change: Any) -> None:
    """RFC 5944 §3.8.2.1 (a): the request fails authentication: 131, a counted drop, and no
    binding."""
    net = build(start=False)
    genuine = auth.seal(
        request(net), MobileHomeAuthentication(spi=MN_HA.spi, authenticator=b""), MN_HA.key
    )
    out = net.wire.deliver("ha", at_ha(resized(genuine.encode(), change)))
    assert net.ha.drops == {DropReason.BAD_AUTHENTICATOR: 1}
    (send,) = sends(out)
    assert RegistrationReply.decode(send.payload).code == C.HA_MN_FAILED_AUTHENTICATION
    assert net.ha.bindings(HOME) == ()
    assert not any(isinstance(a, SetMobilityBinding) for a in out)


@pytest.mark.parametrize(
    "change", [CHANGES["one-byte-long"], CHANGES["sha1-sized"]], ids=["one-byte-long", "sha1"]
)
def test_post_registration_counts_a_wrong_length_fa_fa_authenticator(change: Any) -> None:
    """RFC 4881 §4.5: an HRqst whose FA-FA authenticator has the wrong length is dropped,
    counted, and leaves the nFA's state as it was."""
    net = post_net()
    registered(net)
    before = net.fa2.snapshot(net.wire.now)
    out = net.wire.deliver("fa2", from_fa1(resized(seal_fa_fa(source_request(net)), change)))
    assert [a for a in out if isinstance(a, SendPacket)] == []
    assert net.fa2.drops[DropReason.BAD_AUTHENTICATOR] == 1
    assert net.fa2.snapshot(net.wire.now)["post_registration"] == before["post_registration"]
    assert net.fa2.bet(HOME) is None
