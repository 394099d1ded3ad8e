"""Audience imports started over HTTP run in background threads; their progress is readable meanwhile.

``ImportJobs`` is one of the app's services (started and stopped by the lifespan). An upload is saved
under ``<workspace>/imports/<job id>/`` with the rejects file beside it; the import itself is
``broadcaster.importer.import_audience``, called unchanged, its progress callback feeding the job.
Jobs are kept in memory: after a restart the files remain but the job list starts empty.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine

from audiences.readers import ReadError
from broadcaster import importer
from broadcaster.api import audit
from broadcaster.logs import get_logger, mask_text
from broadcaster.models import utcnow

log = get_logger(__name__)

MAX_UPLOAD_BYTES = 512 * 1024 * 1024
MAX_JOBS_KEPT = 200


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class UploadError(Exception):
    """An upload that cannot be accepted (empty, for one)."""


class UploadTooLarge(UploadError):
    """An upload over ``MAX_UPLOAD_BYTES``."""


@dataclass
class ImportJob:
    id: str
    audience: str
    province_code: str
    filename: str
    path: Path
    rejects_path: Path
    actor: str
    status: str = JobStatus.QUEUED
    rows: int = 0
    bytes: int = 0
    created_at: datetime = field(default_factory=utcnow)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: importer.ImportSummary | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def has_rejects(self) -> bool:
        return self.summary is not None and self.summary.rejected > 0 and self.rejects_path.is_file()


def safe_filename(name: str | None) -> str:
    base = Path(name or "").name.strip()
    base = re.sub(r"[^\w.\- ]+", "_", base, flags=re.UNICODE).strip(". ")
    return base[:120] or "upload.csv"


class ImportJobs:
    """At most ``workers`` imports at a time; the rest wait their turn."""

    def __init__(
        self,
        engine: Engine,
        folder: Path,
        *,
        workers: int = 2,
        on_rows: Callable[[int], Any] | None = None,
    ) -> None:
        self.engine = engine
        self.folder = folder
        self.workers = workers
        self._on_rows = on_rows
        self._jobs: dict[str, ImportJob] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def start(self) -> None:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="audience-import")

    def stop(self) -> None:
        """Waits for running imports (each commits chunk by chunk); queued ones are not started."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    def submit(
        self, *, audience: str, province_code: str, filename: str | None, source: IO[bytes], actor: str
    ) -> ImportJob:
        if self._executor is None:
            msg = "the import service is not running (the app's lifespan starts it)"
            raise RuntimeError(msg)
        job_id = uuid.uuid4().hex[:16]
        folder = self.folder / job_id
        folder.mkdir(parents=True, exist_ok=True)
        name = safe_filename(filename)
        path = folder / name
        size = _copy(source, path)
        job = ImportJob(
            id=job_id,
            audience=audience,
            province_code=province_code,
            filename=name,
            path=path,
            rejects_path=folder / "rejects.csv",
            actor=actor,
            bytes=size,
        )
        with self._lock:
            self._jobs[job_id] = job
            self._forget_old()
        self._executor.submit(self._run, job)
        return job

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[ImportJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created_at, reverse=True)

    def wait(self, job_id: str, timeout: float = 60.0) -> ImportJob:
        """Block until the job is finished or ``timeout`` passed (for tests; the API never blocks on a job)."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job is None:
                msg = f"no import job {job_id!r}"
                raise LookupError(msg)
            if job.finished or time.monotonic() >= deadline:
                return job
            time.sleep(0.02)

    def _forget_old(self) -> None:
        finished = [j for j in sorted(self._jobs.values(), key=lambda j: j.created_at) if j.finished]
        for job in finished[: max(0, len(self._jobs) - MAX_JOBS_KEPT)]:
            del self._jobs[job.id]

    def _run(self, job: ImportJob) -> None:
        job.status, job.started_at = JobStatus.RUNNING, utcnow()

        def progress(rows: int) -> None:
            if self._on_rows:
                self._on_rows(rows - job.rows)
            job.rows = rows

        try:
            summary = importer.import_audience(
                self.engine,
                job.path,
                name=job.audience,
                province_code=job.province_code,
                rejects_path=job.rejects_path,
                progress=progress,
            )
        except (importer.AudienceFileError, ReadError) as exc:
            job.error = str(exc)
            job.status = JobStatus.FAILED
        except Exception as exc:
            log.exception("import.failed", job=job.id, error=mask_text(str(exc)))
            job.error = f"unexpected failure ({type(exc).__name__}); the service log has the details (job {job.id})"
            job.status = JobStatus.FAILED
        else:
            job.summary = summary
            job.rows = summary.rows
            audit.write(
                self.engine,
                job.actor,
                "audience.import",
                "audience",
                str(summary.audience_id),
                after={**summary.as_json(), "file": job.filename, "job": job.id},
            )
            job.status = JobStatus.DONE
        finally:
            job.finished_at = utcnow()


def _copy(source: IO[bytes], path: Path) -> int:
    size = 0
    with path.open("wb") as target:
        while chunk := source.read(1024 * 1024):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                target.close()
                shutil.rmtree(path.parent, ignore_errors=True)
                msg = f"the file is larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it and import the parts"
                raise UploadTooLarge(msg)
            target.write(chunk)
    if size == 0:
        shutil.rmtree(path.parent, ignore_errors=True)
        msg = "the file is empty; choose the CSV or XLSX file of the subscriber list"
        raise UploadError(msg)
    return size
