"""The routing package's error tree (drawn in ``routing/__init__``)."""


class RoutingError(Exception):
    """Base of every domain error the routing core raises."""


class UnknownAdviser(RoutingError):
    def __init__(self, adviser_id: str) -> None:
        super().__init__(f"no adviser {adviser_id!r} in the routing state")
        self.adviser_id = adviser_id


class StateBusy(RoutingError):
    """The live state could not be changed in time because other instances kept changing it; nothing
    was changed, and the caller may try again."""
