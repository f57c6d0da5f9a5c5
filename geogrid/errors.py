"""The library's exceptions, and the catalogue of the rules they name.

Each carries the HTTP status the web layer answers with and a message written for the person
who has to act on it (``detail``), kept apart from anything logged. Messages speak of grids,
issues and versions, never of headers or URLs: how a request reaches the library is the web
layer's business (``api/``), which may add its own hints.

Every error names the rule it enforces (``rule``): a stable snake_case slug, the same in every
answer for the same mistake, so clients branch on it instead of parsing prose. Each class has a
default rule; raise sites that enforce something more specific pass ``rule=`` (the geometry
rules of :mod:`geogrid.grids.validation`, illegal workflow transitions, ...). :data:`RULES`
documents every slug; the web layer turns a slug into the problem ``type`` URI.
"""

from __future__ import annotations

from typing import Any, ClassVar, Final

__all__ = [
    "RULES",
    "ConflictError",
    "DatabaseUnavailableError",
    "ForbiddenError",
    "GeogridError",
    "InvalidInputError",
    "NotFoundError",
    "PreconditionFailedError",
    "PreconditionRequiredError",
    "TooManyRequestsError",
    "UnauthenticatedError",
]

#: Every rule slug an error may name, with what it means and how to put it right. Slugs are
#: snake_case because the geometry rules already were (``self_intersection``...); the GEOS
#: validity reasons are slugged from ``shapely.is_valid_reason`` the same way.
RULES: Final[dict[str, str]] = {
    # -- defaults of the error classes and of the web layer
    "internal_error": "The server failed; the error was logged. Retry later or report it.",
    "invalid_input": "A value sent is not acceptable; the detail names it and what is allowed.",
    "invalid_request": "The request does not match the API's schema (a missing or mistyped "
    "parameter or body field); `errors` lists each field.",
    "invalid_parameter": "A query parameter of the OGC API is malformed or unknown (400).",
    "not_found": "The resource named does not exist (check the code or id).",
    "method_not_allowed": "The resource exists but does not answer this HTTP method.",
    "http_error": "A protocol-level refusal of the request.",
    "database_unavailable": "The database cannot be reached, or cannot take the request now "
    "(refused, timed out, restarting, read-only, or too busy: a lock or statement timeout). "
    "Nothing is wrong with the request: send it again after `Retry-After` seconds. A report "
    "sent with an Idempotency-Key is filed once, however often it is retried.",
    "conflict": "The request is well formed but conflicts with the current state.",
    "precondition_required": "A change needs the version it was made on (If-Match with the "
    "ETag of the version read), so that it cannot silently overwrite someone else's change.",
    "precondition_failed": "The resource changed since the version the change was made on: "
    "read it again, re-apply the change and send the new version.",
    "import_refused": "An import was asked to commit but some features are refused: nothing "
    "was written; the report lists each refusal.",
    # -- limits (api/limits.py) and hard inputs
    "body_too_large": "The request body is larger than the route accepts (1 MB for JSON; "
    "uploads have their own caps): send less, or split it.",
    "control_characters": "A value holds a control character (NUL, escape...): no field "
    "accepts them; tabs and line breaks are allowed in text.",
    "rate_limited": "Too many requests of this kind from one address: wait the Retry-After "
    "seconds, then retry.",
    "busy": "The server is already running as many heavy analyses as it allows: retry after "
    "the Retry-After seconds.",
    "unstorable_value": "A value cannot be stored (too long for its field, out of range, or "
    "not valid text): shorten or correct it.",
    "archive": "An uploaded archive is corrupt, unpacks too large, or compresses too well to "
    "be a real file.",
    "encoding": "The text encoding named is unknown, or the file's text does not decode with it.",
    "backup": "A database dump or restore failed: the detail quotes pg_dump/pg_restore.",
    "upload": "The uploaded file could not be parsed within the time and memory allowed.",
    # -- access (issue 10): logins, roles, reach
    "login_required": "This needs a login: send `Authorization: Bearer <token>` (geogrid users "
    "tokens create) or log in at /login.",
    "login_failed": "The user name or the password is wrong, or the account is disabled.",
    "login_throttled": "Too many failed logins for this account or from this address: wait "
    "for Retry-After seconds.",
    "csrf": "A write made with the page session cookie must carry the session's CSRF token in "
    "the X-CSRF-Token header (or a csrf_token form field): reload the page.",
    "role": "Your role may not do this; ask an administrator for a role that may.",
    "api_key": "Open311 writes need an `api_key` issued to your application "
    "(geogrid open311 keys create NAME).",
    "password": "The password is too short or too long (10 to 200 characters).",
    "user": "The user is unknown, already exists, or the role/reach given does not fit.",
    "audit_filter": "An audit filter is malformed (dates are ISO 8601).",
    "privacy_key": "The reporter encryption key is missing or malformed (GEOGRID_REPORTER_KEYS "
    "takes comma-separated Fernet keys, newest first).",
    # -- issues: workflow and handling levels
    "illegal_transition": "The workflow does not allow this step from the issue's current "
    "state; `allowed` lists the steps that are.",
    "unknown_state": "The target state is not one of the workflow's states.",
    "escalation_limit": "The issue is already handled at the top level (district).",
    "escalation_not_working": "Only issues still being worked (reported to in progress) can be "
    "escalated.",
    "has_children": "A grid with current children cannot be retired, split or merged; deal "
    "with the children first.",
    "retired": "A retired grid cannot be edited or merged; restore it first.",
    "parent_retired": "A grid cannot come back while its parent is retired; restore the parent "
    "first.",
    # -- request values (grids)
    "at": "`at` must be an ISO date or datetime.",
    "attributes": "The grid's attributes must be an object.",
    # -- proposed grids (geogrid/grids/proposals.py)
    "parameters": "The parameters of a proposal do not fit (target households, number of grids, "
    "lines file): the detail names the one to change.",
    "no_addresses": "The grid has too few addresses in the registry to weigh households by; "
    "import addresses first (POST /addresses/import).",
    "index": "A proposal's grids are numbered from 0: the number given is not one of them.",
    "geometry": "The geometry sent for a proposed grid is not a GeoJSON Polygon inside its parent.",
    "swallowed": "Moving that vertex would swallow a whole neighbouring proposed grid: move it "
    "less far.",
    "tiling": "The proposal no longer tiles its parent (a gap, an overlap or ground outside it): "
    "move the vertex back or make a new proposal.",
    "tile_zoom": "A tile's zoom is outside what the server draws (0 to its maximum).",
    "tile_coordinates": "A tile's x or y does not exist at its zoom (0 to 2^z - 1).",
    "tile_minzoom": "The layer is not drawn at that zoom: the message names the smallest zoom.",
    "tile_parameters": "A filter of the issues tile layer (start, end, category, status) is "
    "not acceptable; the detail names it.",
    "bbox": "A bounding box is minlon,minlat,maxlon,maxlat (or the six-number 3-D form), with "
    "finite numbers, longitudes in [-180, 180], latitudes in [-90, 90] and minlat <= maxlat.",
    "code": "The grid code is malformed, taken, or does not fit its parent.",
    "codes": "The list of grid codes is not acceptable (e.g. fewer than two for a merge).",
    "codes_exhausted": "No free child code is left under the parent.",
    "crs": "The coordinate system is unknown, or two given ones disagree.",
    "cql2_filter": "An OGC API `filter` is not valid CQL2 (text or JSON, per `filter-lang`), or "
    "names a property that is not among the collection's queryables (400).",
    "datetime": "`datetime` must be an RFC 3339 instant (intervals are not supported).",
    "dedicated_type": "A dedicated grid needs a known dedicated type; a general grid has none.",
    "district": "The district is unknown or does not match the grid.",
    "estate_type": "The estate type is not one of the allowed values.",
    "fix": "`fix` must be `clip` or absent.",
    "households": "households must be a whole number >= 0 or null.",
    "identity": "code, level, kind and parent identify a grid and cannot be edited.",
    "kind": "kind must be general or dedicated.",
    "level": "The level is not allowed for this operation or parent.",
    "name": "A grid needs a non-empty name.",
    "names": "The names given do not fit (a list of strings, one per piece).",
    "not_siblings": "Only grids with the same parent, level and kind merge.",
    "parent": "The parent grid is missing, unknown or not current.",
    "population": "population must be a whole number >= 0 or null.",
    "properties": "A property sent is not one a grid has.",
    "reach": "The grid is outside what the caller may edit.",
    "version": "The version to restore is missing, unknown or already current.",
    # -- geometry rules (geogrid.grids.validation)
    "malformed": "The GeoJSON geometry is not well formed.",
    "missing": "A grid needs a geometry (Polygon or MultiPolygon).",
    "not_polygonal": "A grid boundary must be a Polygon or MultiPolygon.",
    "empty": "The geometry has no coordinates.",
    "empty_after_clip": "Nothing of the boundary is left after clipping it to where it may lie.",
    "too_many_vertices": "The boundary has more vertices than allowed; simplify it.",
    "not_finite": "A coordinate is NaN or infinite.",
    "out_of_range": "A coordinate is outside the valid longitude/latitude range (swapped axes?).",
    "ring_too_short": "A ring needs at least four positions.",
    "ring_not_closed": "A ring's first and last positions must be equal.",
    "zero_area": "The boundary encloses no area.",
    "spike": "The boundary has a spike (a needle going out and back).",
    "sliver": "A cut leaves a piece thinner than the tolerance.",
    "outside_parent": "The boundary is not within its parent grid (beyond the tolerance).",
    "outside_district": "The boundary is not within its district (beyond the tolerance).",
    "overlaps_sibling": "The boundary overlaps a sibling grid (beyond the tolerance).",
    "overlaps_same_type": "A dedicated grid overlaps another dedicated grid of the same type.",
    "children_outside": "A child grid would no longer lie within the edited boundary.",
    "not_a_line": "A cutting line must be a GeoJSON LineString.",
    "line_does_not_split": "The cutting line does not cut the grid into two or more pieces.",
    "not_adjacent": "Grids to merge must touch each other.",
    # -- pages for people (issue 11): reports by residents, rounds of workers
    "tracking_token": "The tracking token is unknown: use the link shown after the report "
    "was sent (it is the report's own key).",
    "rating_not_open": "Only a resolved issue can be rated, and only once; the tracking page "
    "says what state the issue is in.",
    "photo_limit": "A report from the page carries at most 3 photos, sent right after it.",
    # -- a grid's A/B posts (geogrid/grids/posts.py)
    "post": "A grid's posts are A (primary) and B (backup): name one of them.",
    "staff": "The staff member named is unknown, no longer active, or of another district than "
    "the grid: pick an active member of the grid's district.",
    "post_taken": "The post already has a holder: end that post first, or appoint with "
    "`replace: true` to end it and appoint in one step.",
    "other_post": "The person already holds the grid's other post; a grid's A and B are two "
    "people: end that post first or pick someone else.",
    "post_vacant": "Nobody holds that post of the grid: there is nothing to end.",
    "patrol_ended": "The patrol already ended at another time; start a new patrol.",
    # -- GEOS validity reasons (shapely.is_valid_reason, slugged)
    "self_intersection": "A ring crosses itself or another ring.",
    "ring_self_intersection": "A ring touches itself at a point.",
    "hole_lies_outside_shell": "A hole lies outside its polygon's shell.",
    "holes_are_nested": "A hole lies inside another hole.",
    "interior_is_disconnected": "Holes cut the polygon's interior in two.",
    "nested_shells": "A polygon of a MultiPolygon lies inside another.",
    "duplicate_rings": "Two rings are identical.",
    "too_few_points_in_geometry_component": "A ring has too few distinct points.",
    "invalid_coordinate": "A coordinate is not a number.",
    "ring_is_not_closed": "A ring is not closed.",
}


class GeogridError(Exception):
    """Base class: ``status`` for HTTP, ``title`` short, ``detail`` actionable, ``rule`` the
    slug of the rule broken (see :data:`RULES`), ``extra`` data for machines.

    ``rule`` is also kept in ``extra`` so that every answer carries it as a member.
    """

    status: int = 500
    title: str = "Internal error"
    default_rule: ClassVar[str] = "internal_error"

    def __init__(self, detail: str, *, rule: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.rule = rule or type(self).default_rule
        self.extra: dict[str, Any] = {"rule": self.rule, **extra}


class InvalidInputError(GeogridError):
    status = 422
    title = "Invalid input"
    default_rule = "invalid_input"


class NotFoundError(GeogridError):
    status = 404
    title = "Not found"
    default_rule = "not_found"


class ConflictError(GeogridError):
    status = 409
    title = "Conflict"
    default_rule = "conflict"


class DatabaseUnavailableError(GeogridError):
    """The database cannot serve the request now; the same request later may succeed.

    Why its own class: a client must tell "try again shortly" (503 with ``Retry-After``) from
    "your request is wrong" (4xx) and from "the server is broken" (500). ``state`` says what
    was met (``unreachable``, ``read_only`` or ``busy``) and is answered as the ``database``
    member; ``where`` (host:port) is for operators — logs and the CLI — and is not put in
    answers to clients; ``retry_after_s`` becomes the ``Retry-After`` header.
    """

    status = 503
    title = "Database unavailable"
    default_rule = "database_unavailable"

    def __init__(
        self,
        detail: str,
        *,
        state: str,
        reason: str,
        where: str,
        retry_after_s: int,
        rule: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(
            detail, rule=rule, database=state, reason=reason, retry_after=retry_after_s, **extra
        )
        self.state = state
        self.reason = reason
        self.where = where
        self.retry_after_s = retry_after_s

    @property
    def operator_message(self) -> str:
        """What an operator reads (CLI, logs): ``database unreachable at host:port (reason)``."""
        what = {"read_only": "read-only", "busy": "busy"}.get(self.state, "unreachable")
        return f"database {what} at {self.where} ({self.reason})"


class PreconditionRequiredError(GeogridError):
    """A change was asked for without saying which version it was made on."""

    status = 428
    title = "Precondition required"
    default_rule = "precondition_required"


class PreconditionFailedError(GeogridError):
    """The resource is no longer at the version the change was made on.

    ``identifier`` (a grid code, an issue id) and ``current_version`` (``None`` when the
    version sent could not be compared at all) let the web layer name the entity tag to send.
    """

    status = 412
    title = "Precondition failed"
    default_rule = "precondition_failed"

    def __init__(
        self,
        detail: str,
        *,
        identifier: str,
        current_version: int | None,
        rule: str | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail, rule=rule, current_version=current_version, **extra)
        self.identifier = identifier
        self.current_version = current_version


class UnauthenticatedError(GeogridError):
    """The route needs a login and the request carries none (or a stale one)."""

    status = 401
    title = "Login required"
    default_rule = "login_required"


class ForbiddenError(GeogridError):
    """The login's role may not use this route at all. Objects outside the caller's reach are
    never answered with this (they are :class:`NotFoundError`): only whole routes are."""

    status = 403
    title = "Forbidden"
    default_rule = "role"


class TooManyRequestsError(GeogridError):
    """A throttle refused the request; ``retry_after`` (seconds) says when to try again."""

    status = 429
    title = "Too many requests"
    default_rule = "login_throttled"

    def __init__(self, detail: str, *, retry_after: int, rule: str | None = None) -> None:
        super().__init__(detail, rule=rule, retry_after=retry_after)
        self.retry_after = retry_after
