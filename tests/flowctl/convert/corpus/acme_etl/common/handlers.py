"""State handlers (Prefect 1 signature: obj, old_state, new_state)."""


def notify_on_failure(obj, old_state, new_state):
    if new_state.is_failed():
        print(f"{obj.name} failed: {new_state.message}")
    return new_state
