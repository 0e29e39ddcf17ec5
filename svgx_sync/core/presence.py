"""Presence: who is in a session, what they are doing, and when the others hear of it.

Rules kept here (pure: ``now`` always comes in, nothing is sent from here):

* A user is ``online`` on join, ``editing`` while their operations are recent (within
  ``editing_window`` seconds), ``away`` after ``activity_timeout`` seconds without any
  message, and ``offline`` once their last connection leaves. An offline user stays in
  the book for ``offline_grace`` seconds (so a quick reconnect is seamless) and is then
  dropped. A user may also say ``away`` or ``editing`` themselves.
* A user counts connections: two tabs of one user are one presence, offline only when
  both have gone.
* Changes are not pushed; :meth:`PresenceBook.tick` returns the users that changed since
  the previous tick (each in full), so the daemon sends at most one coalesced
  ``presence_update`` per tick however many activity messages arrived;
  :meth:`PresenceBook.next_change` says when the next tick is due, so an idle session
  costs nothing until one of its timeouts comes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["PresenceBook", "UserPresence"]


@dataclass(slots=True)
class UserPresence:
    user_id: str
    username: str
    status: str = "online"
    current_element: str | None = None
    cursor_position: dict[str, float] | None = None
    selected_elements: list[str] = field(default_factory=list)
    last_activity: float = 0.0
    last_operation: float | None = None
    connections: int = 0
    offline_since: float | None = None
    said: str | None = None  # the status the user last asked for

    def to_wire(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "username": self.username,
            "status": self.status,
            "current_element": self.current_element,
            "cursor_position": self.cursor_position,
            "selected_elements": list(self.selected_elements),
            "last_activity": self.last_activity,
        }


class PresenceBook:
    """The presence of every user of one live session."""

    def __init__(
        self,
        *,
        activity_timeout: float = 300.0,
        offline_grace: float = 30.0,
        editing_window: float = 5.0,
    ) -> None:
        self.activity_timeout = activity_timeout
        self.offline_grace = offline_grace
        self.editing_window = editing_window
        self.users: dict[str, UserPresence] = {}
        self._changed: set[str] = set()
        self._dropped: dict[str, UserPresence] = {}

    # -- inputs ----------------------------------------------------------------------

    def join(self, user_id: str, username: str | None, now: float) -> UserPresence:
        user = self.users.get(user_id)
        if user is None:
            user = self.users[user_id] = UserPresence(user_id, username or user_id)
            self._dropped.pop(user_id, None)
        elif username:
            user.username = username
        user.connections += 1
        user.offline_since = None
        user.last_activity = now
        user.status = self._status(user, now)
        self._changed.add(user_id)
        return user

    def leave(self, user_id: str, now: float) -> None:
        user = self.users.get(user_id)
        if user is None:
            return
        user.connections = max(0, user.connections - 1)
        if user.connections == 0 and user.offline_since is None:
            user.offline_since = now
            user.status = "offline"
            self._changed.add(user_id)

    def activity(
        self,
        user_id: str,
        now: float,
        *,
        status: str | None = None,
        current_element: str | None = None,
        cursor_position: dict[str, float] | None = None,
        selected_elements: list[str] | None = None,
    ) -> None:
        user = self._user(user_id, now)
        user.last_activity = now
        if status is not None:
            user.said = None if status in ("online", "offline") else status
        if current_element is not None:
            user.current_element = current_element
        if cursor_position is not None:
            user.cursor_position = cursor_position
        if selected_elements is not None:
            user.selected_elements = list(selected_elements)
        user.status = self._status(user, now)
        self._changed.add(user_id)

    def operation(self, user_id: str, now: float, element_id: str | None = None) -> None:
        user = self._user(user_id, now)
        user.last_activity = now
        user.last_operation = now
        if element_id is not None:
            user.current_element = element_id
        if user.status != "editing":
            user.status = self._status(user, now)
            self._changed.add(user_id)

    def select(self, user_id: str, now: float, element_id: str, selected: bool) -> None:
        """A ``select``/``deselect`` operation: presence, never a document change."""
        user = self._user(user_id, now)
        chosen = [e for e in user.selected_elements if e != element_id]
        if selected:
            chosen.append(element_id)
        self.activity(user_id, now, selected_elements=chosen)

    def _user(self, user_id: str, now: float) -> UserPresence:
        user = self.users.get(user_id)
        if user is None:
            # Someone acting without a join (the Python API): present, no connection.
            user = self.users[user_id] = UserPresence(user_id, user_id, last_activity=now)
            self._dropped.pop(user_id, None)
        return user

    # -- rules -----------------------------------------------------------------------

    def _status(self, user: UserPresence, now: float) -> str:
        if user.offline_since is not None:
            return "offline"
        if user.last_operation is not None and now - user.last_operation < self.editing_window:
            return "editing"
        if now - user.last_activity >= self.activity_timeout:
            return "away"
        return user.said or "online"

    def tick(self, now: float) -> list[dict[str, Any]]:
        """Apply the timeouts; return the users that changed since the last tick."""
        for user_id, user in list(self.users.items()):
            if user.offline_since is not None:
                if now - user.offline_since >= self.offline_grace:
                    del self.users[user_id]
                    self._dropped[user_id] = user
                    self._changed.add(user_id)
                continue
            status = self._status(user, now)
            if status != user.status:
                user.status = status
                self._changed.add(user_id)
        out = []
        for user_id in sorted(self._changed):
            changed = self.users.get(user_id) or self._dropped.pop(user_id, None)
            if changed is not None:
                out.append(changed.to_wire())
        self._changed.clear()
        return out

    def next_change(self, now: float) -> float | None:
        """When :meth:`tick` will next have something to say: ``now`` while changes wait,
        else the earliest timeout after ``now`` (editing ends, a user goes away, an offline
        user is dropped); None with nobody to time out. The daemon sleeps until then."""
        if self._changed:
            return now
        due = [
            at
            for user in self.users.values()
            for at in self._timeouts(user)
            if at > now  # those up to now were applied by the tick that came before
        ]
        return min(due, default=None)

    def _timeouts(self, user: UserPresence) -> tuple[float, ...]:
        if user.offline_since is not None:
            return (user.offline_since + self.offline_grace,)
        away = user.last_activity + self.activity_timeout
        if user.last_operation is None:
            return (away,)
        return (user.last_operation + self.editing_window, away)

    def active(self) -> list[dict[str, Any]]:
        """Users that are not offline, in join order."""
        return [u.to_wire() for u in self.users.values() if u.status != "offline"]

    def snapshot(self) -> list[dict[str, Any]]:
        """Everyone still in the book (offline users within their grace period too)."""
        return [u.to_wire() for u in self.users.values()]
