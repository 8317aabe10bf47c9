"""What must let a claim through before it runs, registered from above (the waiting
room). The fast lane answers claims without entering Flask, so a before-request hook of
the app would otherwise be skipped there: a gate registers its hook's name (the lane
then knows the hook, rather than switching itself off) and a check the lane calls
before claiming. A claim a gate refuses is handed to Flask, whose hook answers it."""

_gates: list[tuple[str, object]] = []


def register(hook_name: str, allows):
    """`allows(app, environ, event_id, user_id) -> bool`; `hook_name` is the qualified
    name of the before-request hook doing the same in Flask."""
    if all(name != hook_name for name, _ in _gates):
        _gates.append((hook_name, allows))


def hook_names() -> set[str]:
    return {name for name, _ in _gates}


def allows(app, environ, event_id: int, user_id: int) -> bool:
    return all(check(app, environ, event_id, user_id) for _, check in _gates)
