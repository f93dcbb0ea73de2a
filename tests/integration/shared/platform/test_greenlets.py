"""A runs worker's process under gevent (`shared.platform.greenlets`): Postgres queries of
different greenlets overlap, over the pool the runs share. Patching is for a whole process,
so the check runs in a process of its own."""
import subprocess
import sys
import textwrap

CHECK = textwrap.dedent("""
    from shared.platform.greenlets import patch_for_command

    assert patch_for_command(["treadle", "worker", "--pool", "runs"])

    import gevent
    import psycopg.waiting

    from shared.storage.db import reading

    # psycopg chose a wait function that yields to gevent, not its C one that blocks.
    assert psycopg.waiting.wait.__name__ != "wait_c", psycopg.waiting.wait

    def sleeper():
        with reading() as conn:
            conn.execute("SELECT pg_sleep(3), 'treadle-greenlet-check'")

    slow = gevent.spawn(sleeper)
    gevent.sleep(0.5)
    # Were psycopg blocking, the whole process would have slept with the query: it would
    # be over by now. Cooperative, the other greenlet's query is still running.
    with reading() as conn:
        running = conn.execute(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE state = 'active'"
            " AND query LIKE '%treadle-greenlet-check%' AND pid <> pg_backend_pid()"
        ).fetchone()["n"]
    slow.get()
    print("overlapping", running)
""")


def test_queries_of_two_greenlets_overlap(database_url: str) -> None:
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["overlapping", "1"]
