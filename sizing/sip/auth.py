"""Digest authentication for SIP: client answers and server challenges, sans-IO.

Standards: RFC 3261 §22 (SIP's use of HTTP Digest), RFC 7616 (MD5, SHA-256,
SHA-512-256, their ``-sess`` variants, qop ``auth`` / ``auth-int``, ``nc``,
``cnonce``), RFC 8760 (the SHA-2 algorithms in SIP and multiple challenges),
and RFC 2069 compatibility (no ``qop``: response = H(HA1:nonce:HA2)).

Theory of operation
-------------------
- The hash arithmetic is a handful of pure functions (:func:`compute_ha1`,
  :func:`compute_response`) checked against the RFC 2617 §3.5 and RFC 7616
  §3.9.1 examples.
- :class:`DigestClient` answers 401/407 challenges. It keeps, per nonce, the
  nonce count it last used, and its client nonces come from an injectable
  random source so that simulations are reproducible.
- :class:`DigestAuthenticator` is the registrar's or proxy's side. Its nonces
  are stateless and verifiable: the issue time in milliseconds and a serial
  number, authenticated by an HMAC with a server secret, so any server that
  shares the secret can check a nonce without a database. The only state kept
  is the highest nonce count seen per live nonce (replay detection), purged as
  nonces age out. Time is always passed in as a number (seconds): no clock.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import os
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from sizing.sip.headers import DigestChallenge, DigestCredentials
from sizing.sip.message import Response
from sizing.sip.uri import URI

__all__ = [
    "ALGORITHMS",
    "Algorithm",
    "AuthError",
    "AuthResult",
    "DigestAuthenticator",
    "DigestClient",
    "User",
    "Verdict",
    "compute_ha1",
    "compute_response",
    "get_algorithm",
]


class AuthError(ValueError):
    """Digest input that cannot be used: unknown algorithm, missing parameter."""


@dataclass(frozen=True, slots=True)
class Algorithm:
    """A Digest algorithm (RFC 7616 §3.4 and its IANA registry)."""

    name: str
    """Canonical spelling, as written in ``algorithm=``."""
    hash_name: str
    """``hashlib`` name of the underlying hash."""
    session: bool
    """``-sess`` variant: HA1 is bound to the nonce and cnonce (RFC 7616 §3.4.2)."""
    strength: int
    """Higher is stronger; used to prefer SHA-256 over MD5 (RFC 8760 §2.4)."""

    @property
    def base(self) -> str:
        """The name without ``-sess``: the key of a precomputed HA1."""
        return self.name.removesuffix("-sess")

    def hash(self, data: str | bytes) -> str:
        """Lower-case hex digest of ``data`` (strings are UTF-8, RFC 3261 §25)."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        return hashlib.new(self.hash_name, data).hexdigest()


ALGORITHMS: dict[str, Algorithm] = {
    a.name.upper(): a
    for a in (
        Algorithm("MD5", "md5", False, 1),
        Algorithm("MD5-sess", "md5", True, 1),
        Algorithm("SHA-256", "sha256", False, 3),
        Algorithm("SHA-256-sess", "sha256", True, 3),
        Algorithm("SHA-512-256", "sha512_256", False, 2),
        Algorithm("SHA-512-256-sess", "sha512_256", True, 2),
    )
    if a.hash_name in hashlib.algorithms_available
}
"""Supported algorithms by upper-cased name. SHA-512-256 ranks below SHA-256:
RFC 8760 §2.4 leaves the order to local policy and SHA-256 is the one SIP
deployments interoperate on; both are far stronger than MD5."""


def get_algorithm(name: str | None) -> Algorithm:
    """The algorithm called ``name`` (case-insensitive); absent means MD5 (RFC 7616 §3.3)."""
    if name is None:
        return ALGORITHMS["MD5"]
    try:
        return ALGORITHMS[name.upper()]
    except KeyError:
        known = ", ".join(a.name for a in ALGORITHMS.values())
        raise AuthError(f"unsupported digest algorithm {name!r} (supported: {known})") from None


def compute_ha1(algorithm: Algorithm | str, username: str, realm: str, password: str) -> str:
    """HA1 = H(username:realm:password), the value a user store may keep instead of passwords."""
    alg = get_algorithm(algorithm) if isinstance(algorithm, str) else algorithm
    return alg.hash(f"{username}:{realm}:{password}")


def compute_response(
    algorithm: Algorithm | str,
    *,
    ha1: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` parameter (RFC 7616 §3.4.1; RFC 2069 form when ``qop`` is None).

    ``ha1`` is the plain H(username:realm:password); the ``-sess`` variants
    derive the session key from it here. ``body`` is used by ``auth-int`` only.
    """
    alg = get_algorithm(algorithm) if isinstance(algorithm, str) else algorithm
    if alg.session:
        if cnonce is None:
            raise AuthError(f"algorithm {alg.name} needs a cnonce")
        ha1 = alg.hash(f"{ha1}:{nonce}:{cnonce}")
    if qop is None:
        ha2 = alg.hash(f"{method}:{uri}")
        return alg.hash(f"{ha1}:{nonce}:{ha2}")
    if qop == "auth":
        ha2 = alg.hash(f"{method}:{uri}")
    elif qop == "auth-int":
        ha2 = alg.hash(f"{method}:{uri}:{alg.hash(body)}")
    else:
        raise AuthError(f"unsupported qop {qop!r} (supported: auth, auth-int)")
    if nc is None or cnonce is None:
        raise AuthError(f"qop={qop} needs nc and cnonce")
    return alg.hash(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _qop_options(challenge: DigestChallenge) -> list[str]:
    """The qop values a challenge offers, lower-cased."""
    return [q.lower() for q in challenge.qop_options]


def _is_digest(scheme: str) -> bool:
    return scheme.lower() == "digest"


# --------------------------------------------------------------------------- client


_AUTHORIZATION_FOR = {"www-authenticate": "Authorization", "proxy-authenticate": "Proxy-Authorization"}


class DigestClient:
    """Answers Digest challenges on behalf of one user (RFC 3261 §22.2, §22.3).

    ``password`` or ``ha1`` (a mapping from algorithm base name, e.g. ``"MD5"`` or
    ``"SHA-256"``, to the hex HA1 for the realm) must be given; with HA1 only,
    just those algorithms can be answered. ``realm`` restricts the client to one
    realm. Client nonces are ``random_bytes(cnonce_bytes)`` in hex: pass
    ``random.Random(seed).randbytes`` for deterministic runs. ``policy`` picks among several challenges of one realm:
    ``"strongest"`` (default) or ``"topmost"`` (the first supported, RFC 8760 §2.4).
    """

    def __init__(
        self,
        username: str,
        password: str | None = None,
        *,
        ha1: Mapping[str, str] | None = None,
        realm: str | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        cnonce_bytes: int = 8,
        policy: str = "strongest",
    ) -> None:
        if password is None and not ha1:
            raise AuthError(f"DigestClient for {username!r} needs a password or an HA1")
        if policy not in ("strongest", "topmost"):
            raise AuthError(f"unknown challenge policy {policy!r} (expected 'strongest' or 'topmost')")
        self.username = username
        self.password = password
        self.ha1 = {get_algorithm(k).base.upper(): v.lower() for k, v in (ha1 or {}).items()}
        self.realm = realm
        self.policy = policy
        self._random_bytes = random_bytes
        self._cnonce_bytes = cnonce_bytes
        self._nc: dict[str, int] = {}
        self._cache: dict[tuple[str, str], DigestChallenge] = {}

    # ---- choosing

    def supports(self, challenge: DigestChallenge) -> bool:
        """Whether this client can answer ``challenge`` (scheme, algorithm, qop, realm, HA1)."""
        if not _is_digest(challenge.scheme) or challenge.realm is None or challenge.nonce is None:
            return False
        if self.realm is not None and challenge.realm != self.realm:
            return False
        try:
            alg = get_algorithm(challenge.algorithm)
        except AuthError:
            return False
        if self.password is None and alg.base.upper() not in self.ha1:
            return False
        offered = _qop_options(challenge)
        return not offered or any(q in ("auth", "auth-int") for q in offered)

    def choose(self, challenges: Iterable[DigestChallenge]) -> list[DigestChallenge]:
        """One challenge per realm, in first-seen realm order, chosen by ``policy``."""
        by_realm: dict[str, DigestChallenge] = {}
        for challenge in challenges:
            if not self.supports(challenge):
                continue
            realm = challenge.realm
            assert realm is not None
            current = by_realm.get(realm)
            if current is None or (
                self.policy == "strongest"
                and get_algorithm(challenge.algorithm).strength
                > get_algorithm(current.algorithm).strength
            ):
                by_realm[realm] = challenge
        return list(by_realm.values())

    # ---- answering

    def _ha1(self, alg: Algorithm, realm: str) -> str:
        stored = self.ha1.get(alg.base.upper())
        if stored is not None:
            return stored
        assert self.password is not None
        return compute_ha1(alg, self.username, realm, self.password)

    def _cnonce(self) -> str:
        return self._random_bytes(self._cnonce_bytes).hex()

    def authorize(
        self, challenge: DigestChallenge, method: str, uri: URI | str, body: bytes = b""
    ) -> DigestCredentials:
        """Credentials answering ``challenge`` for a request; counts ``nc`` per nonce.

        qop ``auth`` is used when offered, else ``auth-int``; with no qop offered
        the RFC 2069 form is sent (no nc, no cnonce).
        """
        if not self.supports(challenge):
            raise AuthError(
                f"cannot answer challenge scheme={challenge.scheme!r} realm={challenge.realm!r} "
                f"algorithm={challenge.algorithm!r} qop={challenge.qop!r}"
            )
        alg = get_algorithm(challenge.algorithm)
        realm, nonce = challenge.realm, challenge.nonce
        assert realm is not None and nonce is not None
        digest_uri = str(uri)
        offered = _qop_options(challenge)
        qop = "auth" if "auth" in offered else ("auth-int" if "auth-int" in offered else None)
        nc = cnonce = None
        if qop is not None or alg.session:
            cnonce = self._cnonce()
        if qop is not None:
            count = self._nc.get(nonce, 0) + 1
            self._nc[nonce] = count
            nc = f"{count:08x}"
        response = compute_response(
            alg,
            ha1=self._ha1(alg, realm),
            nonce=nonce,
            method=method,
            uri=digest_uri,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        params: dict[str, str] = {
            "username": self.username,
            "realm": realm,
            "nonce": nonce,
            "uri": digest_uri,
            "response": response,
        }
        if challenge.algorithm is not None:
            params["algorithm"] = alg.name
        if cnonce is not None:
            params["cnonce"] = cnonce
        if challenge.opaque is not None:
            params["opaque"] = challenge.opaque
        if qop is not None and nc is not None:  # nc is counted whenever qop is set
            params["qop"] = qop
            params["nc"] = nc
        return DigestCredentials("Digest", params)

    def answer(
        self, response: Response, request: RequestLike
    ) -> list[tuple[str, DigestCredentials]] | None:
        """Authorization headers to retry ``request`` after a 401/407, or None to give up.

        Every realm challenged in ``response`` is answered once. A realm
        whose credentials the request already carried is answered again only if
        the new challenge says ``stale=true`` (RFC 7616 §3.3): otherwise the
        password was refused and asking again would loop.
        """
        answers: list[tuple[str, DigestCredentials]] = []
        for header_name, challenges in _challenges_by_header(response.headers).items():
            cred_name = _AUTHORIZATION_FOR[header_name]
            sent = _realms_sent(request, cred_name)
            for challenge in self.choose(challenges):
                if challenge.realm in sent and not challenge.stale:
                    return None
                self._cache[(cred_name, challenge.realm or "")] = challenge
                answers.append(
                    (cred_name, self.authorize(challenge, request.method, request.uri, request.body))
                )
        return answers or None

    def cached(
        self, method: str, uri: URI | str, body: bytes = b""
    ) -> list[tuple[str, DigestCredentials]]:
        """Credentials for a new request from the challenges answered before (RFC 3261 §22.3
        caching): the nonce is reused with the next nonce count, saving a round trip."""
        return [
            (cred_name, self.authorize(challenge, method, uri, body))
            for (cred_name, _realm), challenge in self._cache.items()
        ]


class RequestLike(Protocol):
    """What the client and the authenticator read from a request (``Request`` satisfies it:
    its Headers iterate as (name, value) pairs). Read-only, so a member may be narrower."""

    @property
    def method(self) -> str: ...
    @property
    def uri(self) -> URI: ...
    @property
    def body(self) -> bytes: ...
    @property
    def headers(self) -> Iterable[tuple[str, str]]: ...


def _challenges_by_header(headers: Iterable[tuple[str, str]]) -> dict[str, list[DigestChallenge]]:
    """Parsed challenges by header name; values that do not parse (another scheme's
    token68 syntax, say) are skipped so the Digest challenges beside them still count."""
    found: dict[str, list[DigestChallenge]] = {}
    for name, value in headers:
        key = name.lower()
        if key in _AUTHORIZATION_FOR:
            try:
                challenge = DigestChallenge.parse(value)
            except ValueError:
                continue
            found.setdefault(key, []).append(challenge)
    return found


def _credentials(request: RequestLike, header_name: str) -> list[DigestCredentials]:
    wanted = header_name.lower()
    return [DigestCredentials.parse(v) for n, v in request.headers if n.lower() == wanted]


def _realms_sent(request: RequestLike, header_name: str) -> set[str]:
    return {c.realm for c in _credentials(request, header_name) if c.realm is not None}


# --------------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class User:
    """A user store entry: a password, or HA1 values keyed by algorithm base name."""

    password: str | None = None
    ha1: Mapping[str, str] = field(default_factory=dict)

    def ha1_for(self, alg: Algorithm, username: str, realm: str) -> str | None:
        for key, value in self.ha1.items():
            if key.upper() == alg.base.upper():
                return value.lower()
        if self.password is None:
            return None
        return compute_ha1(alg, username, realm, self.password)


class Verdict(Enum):
    """Outcome of checking a request's credentials."""

    OK = "ok"
    CHALLENGE = "challenge"
    """No credentials for this realm (or unusable ones): send a fresh challenge."""
    STALE = "stale"
    """Correct credentials on an expired nonce: challenge with ``stale=TRUE``."""
    FAILED = "failed"
    """Unknown user or wrong response."""
    REPLAY = "replay"
    """Nonce count not above the last one seen for this nonce."""
    BAD_REQUEST = "bad-request"
    """Malformed credentials, or ``uri`` not the Request-URI (RFC 7616 §3.4.6)."""


@dataclass(frozen=True, slots=True)
class AuthResult:
    """A verdict and the response to send: ``status`` is None when the request may proceed."""

    verdict: Verdict
    status: int | None = None
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    """Challenge headers (WWW-Authenticate or Proxy-Authenticate) to add to the response."""
    username: str | None = None
    detail: str = ""
    """What was wrong, for logs and tests."""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK


_NONCE_HEAD = struct.Struct(">QI")  # issue time in ms, serial number
_NONCE_MAC_BYTES = 16


class DigestAuthenticator:
    """Challenges and verifies Digest credentials for one realm (a registrar or a proxy).

    ``users`` maps a username to a password or a :class:`User`. ``proxy=True``
    uses 407 / Proxy-Authenticate / Proxy-Authorization instead of 401 /
    WWW-Authenticate / Authorization. ``algorithms`` are offered in order of
    preference, one challenge header each (RFC 8760 §2.3). ``failure_status``
    answers a wrong password or unknown user: None re-challenges (common
    practice, which also hides which usernames exist), 403 refuses outright.
    """

    def __init__(
        self,
        realm: str,
        secret: bytes,
        users: Mapping[str, str | User],
        *,
        proxy: bool = False,
        algorithms: Sequence[str] = ("SHA-256", "MD5"),
        qop: Sequence[str] = ("auth",),
        nonce_lifetime: float = 300.0,
        opaque: str | None = None,
        failure_status: int | None = None,
        check_uri: bool = True,
    ) -> None:
        if not secret:
            raise AuthError("DigestAuthenticator needs a non-empty secret")
        if nonce_lifetime <= 0:
            raise AuthError(f"nonce_lifetime must be positive, got {nonce_lifetime}")
        for q in qop:
            if q not in ("auth", "auth-int"):
                raise AuthError(f"unsupported qop {q!r} (supported: auth, auth-int)")
        if failure_status not in (None, 403):
            raise AuthError(f"failure_status must be None or 403, got {failure_status}")
        self.realm = realm
        self.users = users
        self.proxy = proxy
        self.algorithms = [get_algorithm(a) for a in algorithms]
        if not self.algorithms:
            raise AuthError("DigestAuthenticator needs at least one algorithm")
        self.qop = tuple(qop)
        self.nonce_lifetime = nonce_lifetime
        self.opaque = opaque
        self.failure_status = failure_status
        self.check_uri = check_uri
        self._secret = secret
        self._serial = 0
        self._nc: dict[str, int] = {}
        self._nc_expiry: list[tuple[float, str]] = []

    # ---- header names and challenges

    @property
    def challenge_status(self) -> tuple[int, str]:
        return (407, "Proxy Authentication Required") if self.proxy else (401, "Unauthorized")

    @property
    def challenge_header(self) -> str:
        return "Proxy-Authenticate" if self.proxy else "WWW-Authenticate"

    @property
    def credentials_header(self) -> str:
        return "Proxy-Authorization" if self.proxy else "Authorization"

    def new_nonce(self, now: float) -> str:
        """A fresh nonce: issue time and serial, authenticated with the secret (base64url)."""
        self._serial = (self._serial + 1) & 0xFFFFFFFF
        head = _NONCE_HEAD.pack(max(0, int(now * 1000)), self._serial)
        return base64.urlsafe_b64encode(head + self._mac(head)).decode("ascii").rstrip("=")

    def _mac(self, head: bytes) -> bytes:
        key_input = head + b"\x00" + self.realm.encode("utf-8")
        return hmac.new(self._secret, key_input, hashlib.sha256).digest()[:_NONCE_MAC_BYTES]

    def nonce_issued_at(self, nonce: str) -> float | None:
        """When ``nonce`` was issued (seconds), or None if this server did not issue it."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != _NONCE_HEAD.size + _NONCE_MAC_BYTES:
            return None
        head, mac = raw[: _NONCE_HEAD.size], raw[_NONCE_HEAD.size :]
        if not hmac.compare_digest(mac, self._mac(head)):
            return None
        millis, _serial = _NONCE_HEAD.unpack(head)
        seconds: float = millis / 1000.0
        return seconds

    def challenges(self, now: float, *, stale: bool = False) -> list[DigestChallenge]:
        """One challenge per algorithm, most preferred first, sharing one nonce."""
        nonce = self.new_nonce(now)
        result = []
        for alg in self.algorithms:
            params: dict[str, str] = {"realm": self.realm, "nonce": nonce}
            if self.opaque is not None:
                params["opaque"] = self.opaque
            if stale:
                params["stale"] = "TRUE"
            params["algorithm"] = alg.name
            if self.qop:
                params["qop"] = ",".join(self.qop)
            result.append(DigestChallenge("Digest", params))
        return result

    def _challenge(
        self, verdict: Verdict, now: float, detail: str, *, username: str | None = None
    ) -> AuthResult:
        status, reason = self.challenge_status
        headers = tuple(
            (self.challenge_header, str(c)) for c in self.challenges(now, stale=verdict is Verdict.STALE)
        )
        return AuthResult(verdict, status, reason, headers, username, detail)

    # ---- verification

    def authenticate(self, request: RequestLike, now: float) -> AuthResult:
        """Check ``request``'s credentials for this realm (RFC 3261 §22.2 / §22.3).

        Every credential for this realm is tried (several proxies of one realm
        may have challenged a forked request); the first that verifies wins,
        otherwise the most telling failure is reported.
        """
        self._purge(now)
        try:
            creds = [
                c
                for c in _credentials(request, self.credentials_header)
                if _is_digest(c.scheme) and c.realm == self.realm
            ]
        except ValueError as exc:
            return AuthResult(
                Verdict.BAD_REQUEST, 400, "Bad Request", detail=f"{self.credentials_header}: {exc}"
            )
        if not creds:
            return self._challenge(Verdict.CHALLENGE, now, f"no credentials for realm {self.realm!r}")
        results = [self._check(c, request, now) for c in creds]
        rank = {
            Verdict.OK: 0,
            Verdict.STALE: 1,
            Verdict.BAD_REQUEST: 2,
            Verdict.REPLAY: 3,
            Verdict.FAILED: 4,
            Verdict.CHALLENGE: 5,
        }
        return min(results, key=lambda r: rank[r.verdict])

    def _check(self, cred: DigestCredentials, request: RequestLike, now: float) -> AuthResult:
        header = self.credentials_header
        missing = [n for n in ("username", "nonce", "uri", "response") if getattr(cred, n) is None]
        if missing:
            return AuthResult(
                Verdict.BAD_REQUEST,
                400,
                "Bad Request",
                detail=f"{header}: missing parameter(s) {', '.join(missing)}",
            )
        username, nonce, digest_uri = cred.username, cred.nonce, cred.uri
        assert username is not None and nonce is not None and digest_uri is not None
        try:
            alg = get_algorithm(cred.algorithm)
        except AuthError as exc:
            return self._challenge(Verdict.CHALLENGE, now, f"{header}: {exc}", username=username)
        if alg not in self.algorithms:
            return self._challenge(
                Verdict.CHALLENGE, now, f"{header}: algorithm {alg.name} not offered", username=username
            )
        qop = cred.qop
        nc_text, cnonce = cred.nc, cred.cnonce
        if qop is not None:
            qop = qop.lower()
            if qop not in self.qop:
                return self._bad(f"{header}: qop={qop} not offered (offered: {','.join(self.qop)})")
            if nc_text is None or cnonce is None:
                return self._bad(f"{header}: qop={qop} without nc and cnonce")
            if len(nc_text) != 8 or any(ch not in "0123456789abcdefABCDEF" for ch in nc_text):
                return self._bad(f"{header}: nc={nc_text!r} is not 8 hex digits")
        elif self.qop:
            return self._bad(f"{header}: qop missing (offered: {','.join(self.qop)})")
        if alg.session and cnonce is None:
            return self._bad(f"{header}: algorithm {alg.name} without cnonce")
        if self.check_uri and not _same_uri(digest_uri, request.uri):
            return self._bad(f"{header}: uri {digest_uri!r} is not the Request-URI {str(request.uri)!r}")
        issued = self.nonce_issued_at(nonce)
        if issued is None:
            return self._challenge(
                Verdict.CHALLENGE, now, f"{header}: nonce not issued by this server", username=username
            )
        if self.opaque is not None and cred.opaque != self.opaque:
            return self._challenge(Verdict.CHALLENGE, now, f"{header}: opaque mismatch", username=username)
        entry = self.users.get(username)
        user = User(password=entry) if isinstance(entry, str) else entry
        ha1 = user.ha1_for(alg, username, self.realm) if user is not None else None
        if ha1 is None:
            return self._failed(now, username, f"no {alg.base} credentials for user {username!r}")
        expected = compute_response(
            alg,
            ha1=ha1,
            nonce=nonce,
            method=request.method,
            uri=digest_uri,
            qop=qop,
            nc=nc_text,
            cnonce=cnonce,
            body=request.body,
        )
        if not hmac.compare_digest(expected, (cred.response or "").lower()):
            return self._failed(now, username, f"wrong response for user {username!r}")
        if now - issued > self.nonce_lifetime or issued - now > self.nonce_lifetime:
            return self._challenge(
                Verdict.STALE, now, f"nonce issued at {issued:.3f} is stale at {now:.3f}", username=username
            )
        if nc_text is not None:
            count = int(nc_text, 16)
            last = self._nc.get(nonce)
            if last is not None and count <= last:
                return self._challenge(
                    Verdict.REPLAY, now, f"nc={nc_text} not above {last:08x} for this nonce", username=username
                )
            if last is None:
                heapq.heappush(self._nc_expiry, (issued + self.nonce_lifetime, nonce))
            self._nc[nonce] = count
        return AuthResult(Verdict.OK, username=username, detail=f"user {username!r} authenticated")

    def _bad(self, detail: str) -> AuthResult:
        return AuthResult(Verdict.BAD_REQUEST, 400, "Bad Request", detail=detail)

    def _failed(self, now: float, username: str, detail: str) -> AuthResult:
        if self.failure_status == 403:
            return AuthResult(Verdict.FAILED, 403, "Forbidden", username=username, detail=detail)
        return self._challenge(Verdict.FAILED, now, detail, username=username)

    def _purge(self, now: float) -> None:
        """Forget nonce counts of nonces past their lifetime (they can only be stale now)."""
        heap = self._nc_expiry
        while heap and heap[0][0] < now:
            _, nonce = heapq.heappop(heap)
            self._nc.pop(nonce, None)

    @property
    def tracked_nonces(self) -> int:
        """Nonces whose counts are remembered (bounded by the issue rate x lifetime)."""
        return len(self._nc)


def _same_uri(digest_uri: str, request_uri: URI) -> bool:
    if digest_uri == str(request_uri):
        return True
    try:
        return URI.parse(digest_uri).equivalent(request_uri)
    except ValueError:
        return False
