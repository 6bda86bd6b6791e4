"""The migrations: they build exactly the schema the models describe, and a migration that
rebuilds a table (Alembic's batch mode on SQLite) keeps every row, including the rows of other
tables that point at it. Before migrations/env.py turned foreign keys off while migrating,
rebuilding ``person`` deleted every face sample and attendance event (ON DELETE CASCADE)."""

from __future__ import annotations

import sqlite3

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from kiosk import create_app
from kiosk.config import TestingConfig
from kiosk.extensions import db

INITIAL = "16467fb9abbf"


def test_the_migrated_schema_is_the_models_schema(app):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert differences == []


def test_upgrading_a_populated_site_keeps_every_row(tmp_path):
    app = create_app(TestingConfig(tmp_path))
    database = tmp_path / "kiosk.sqlite3"
    with app.app_context():
        upgrade(revision=INITIAL)
        with sqlite3.connect(database) as conn:
            conn.execute("PRAGMA foreign_keys=ON")
            conn.executescript("""
                INSERT INTO person (id, name, active, created_at) VALUES
                    (1, 'Joe Biden', 1, '2025-01-01'), (2, 'joe biden' || char(8203), 1, '2025-01-01'),
                    (3, 'Ada', 1, '2025-01-01');
                INSERT INTO face_sample (person_id, crop_path, created_at) VALUES
                    (1, 'faces/a.png', '2025-01-01'), (3, 'faces/b.png', '2025-01-01');
                INSERT INTO attendance_event (person_id, kind, timestamp, kiosk_id) VALUES
                    (1, 'check_in', '2025-01-02', 'k'), (2, 'check_in', '2025-01-02', 'k');
                INSERT INTO admin_user (username, password_hash, created_at, failed_logins)
                    VALUES ('a', 'x', '2025-01-01', 0);
            """)
        upgrade()
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT COUNT(*) FROM face_sample").fetchone() == (2,)
            assert conn.execute("SELECT COUNT(*) FROM attendance_event").fetchone() == (2,)
            assert conn.execute("SELECT id, name_key FROM person ORDER BY id").fetchall() == [
                (1, "joe biden"), (2, "joe biden#2"), (3, "ada")]  # an existing look-alike keeps working
            assert conn.execute("SELECT username FROM admin_user").fetchall() == [("a",)]
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # Foreign keys are enforced again for the app once the migrations are done.
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        downgrade(revision=INITIAL)
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT COUNT(*) FROM face_sample").fetchone() == (2,)
            assert conn.execute("SELECT COUNT(*) FROM attendance_event").fetchone() == (2,)
        db.engine.dispose()
