import asyncio

from svgx_sync import get_active_users, resolve_conflict, send_operation, start_collaboration_server


async def collaboration_example():
    # 1. Start collaboration server
    success = await start_collaboration_server("localhost", 8765)
    if not success:
        print("Failed to start collaboration server")
        return

    # 2. Send collaborative operations
    operations = [
        {
            "type": "create",
            "user_id": "user_1",
            "element_id": "element_1",
            "data": {"type": "rectangle", "position": {"x": 0, "y": 0}},
        },
        {
            "type": "update",
            "user_id": "user_2",
            "element_id": "element_1",
            "data": {"position": {"x": 100, "y": 100}},
        },
        {
            "type": "constraint_add",
            "user_id": "user_1",
            "element_id": "element_1",
            "data": {"constraint_type": "distance", "value": 50},
        },
    ]

    for operation in operations:
        success = await send_operation(operation)
        if success:
            print(f"Operation sent: {operation['type']}")

    # 3. Handle conflicts
    conflicts = [
        {"conflict_id": "conflict_1", "resolution": "last_write_wins", "resolved_by": "user_1"}
    ]

    for conflict in conflicts:
        success = await resolve_conflict(
            conflict["conflict_id"], conflict["resolution"], conflict["resolved_by"]
        )
        if success:
            print(f"Conflict resolved: {conflict['conflict_id']}")

    # 4. Monitor active users
    active_users = get_active_users()
    print(f"Active users: {len(active_users)}")
    for user in active_users:
        print(f"- {user['username']}: {user['status']}")


# Run the example
asyncio.run(collaboration_example())
