"""Signed Docker schema1 manifests (libtrust JWS): verify and sign. Pure crypto, no I/O.

A prettyjws manifest carries ``signatures``; each has a JWK ``header.jwk``, an ``alg``, a
``protected`` header (with ``formatLength`` and ``formatTail`` that rebuild the payload) and a
``signature`` over ``protected + "." + base64url(payload)``.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from reginventory.client.manifest import b64url_decode, schema1_payload
from reginventory.errors import ManifestError

_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_CURVES = {"P-256": ec.SECP256R1, "P-384": ec.SECP384R1, "P-521": ec.SECP521R1}


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: str) -> int:
    return int.from_bytes(b64url_decode(value), "big")


def _verify_one(jwk: Mapping[str, Any], alg: str, signing_input: bytes, signature: bytes) -> None:
    digest = _HASHES.get(alg[2:])
    if digest is None:
        raise ManifestError(f"unsupported schema1 signature algorithm {alg!r}")
    if jwk.get("kty") == "EC" and alg.startswith("ES"):
        curve = _CURVES[jwk["crv"]]()
        key = ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]), curve).public_key()
        half = len(signature) // 2
        der = encode_dss_signature(int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big"))
        key.verify(der, signing_input, ec.ECDSA(digest()))
    elif jwk.get("kty") == "RSA" and alg.startswith("RS"):
        rsa_key = rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
        rsa_key.verify(signature, signing_input, padding.PKCS1v15(), digest())
    else:
        raise ManifestError(f"unsupported schema1 signature key {jwk.get('kty')!r} with {alg!r}")


def verify_schema1_signatures(raw: bytes) -> bool | None:
    """True when every signature verifies; None for an unsigned manifest; raise when one fails."""
    body = json.loads(raw)
    signatures = body.get("signatures") or []
    if not signatures:
        return None
    payload_b64 = b64url_encode(schema1_payload(raw))
    for number, sig in enumerate(signatures):
        header = sig.get("header") or {}
        jwk = header.get("jwk")
        if not jwk:
            raise ManifestError(f"schema1 signature {number} has no embedded key (x5c chains are not supported)")
        signing_input = f"{sig['protected']}.{payload_b64}".encode()
        try:
            _verify_one(jwk, header.get("alg", ""), signing_input, b64url_decode(sig["signature"]))
        except (InvalidSignature, KeyError, ValueError) as exc:
            raise ManifestError(f"schema1 signature {number} does not verify: {exc!r}") from None
    return True


def sign_schema1(payload: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """Sign an (unsigned, pretty-printed) schema1 manifest as libtrust does: the prettyjws bytes."""
    if not payload.endswith(b"\n}"):
        raise ManifestError("schema1 payload must be pretty-printed JSON ending in a closing brace")
    format_length = len(payload) - 2
    format_tail = payload[format_length:]
    protected = b64url_encode(
        json.dumps({"formatLength": format_length, "formatTail": b64url_encode(format_tail), "time": "2024-01-01T00:00:00Z"}).encode()
    )
    signing_input = f"{protected}.{b64url_encode(payload)}".encode()
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    r, s = decode_dss_signature(key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    numbers = key.public_key().public_numbers()
    jwk = {
        "crv": "P-256", "kty": "EC",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")), "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }
    block = {"header": {"jwk": jwk, "alg": "ES256"}, "signature": b64url_encode(signature), "protected": protected}
    sigs = json.dumps([block], indent=3).replace("\n", "\n   ")
    return payload[:format_length] + b',\n   "signatures": ' + sigs.encode() + format_tail
