"""Bulk enrollment: a whole staff directory (folder, ZIP or CSV) in one step, resumable.

:func:`.run.import_photos` reads an :class:`~kiosk.services.import_sources.ImportSource` photo by
photo and enrolls each through the enrollment service's two steps
(:func:`~kiosk.services.enrollment.check_photo_batch`, then
:func:`~kiosk.services.enrollment.store_samples`), so a photo is accepted or refused for the
same reasons as in the admin's per-person upload. Photos are embedded in batches of the
embedder's ``batch_size`` (FaceNet embeds a batch much faster per face; dlib does not gain).
People are created when their first photo is accepted, in the same transaction as it; a person
whose photos are all refused is not created.

**Idempotent and resumable.** Each sample stores the sha256 of its photo: a photo already
enrolled (by an earlier import or by hand) is skipped as a duplicate, so running the same
import again changes nothing, and running it again after it was interrupted (Ctrl-C, a crash,
a SIGKILL, a server restart) imports exactly what is still missing. Each batch is committed on
its own, so an interruption loses at most the batch in progress. Crop files are written before
their rows are committed; the paths of the batch in progress are journalled first
(``imports/pending-crops.json`` in the data dir), and the next import removes those of them
that no row refers to, so a kill leaves no orphan crop behind. One import runs at a time (per
data dir, and on PostgreSQL per database: :func:`.lock.import_lock`); a second one gets
:class:`~kiosk.errors.Conflict`.

**A bad photo never stops the run**: it is that photo's outcome (its reason, as enrollment
gives it, or ``missing_file``, ``no_photo``, ``invalid_name``, ``external_id_mismatch``...).
What stops it: a refused source (before anything is written), a missing model file, or the
database or disk failing (not the photo's fault).

**Training** runs once at the end (not per person), when something was accepted or the model
is older than the enrollments; the admin console runs the whole import as a background job
(:func:`.job.start_import_job`), so the kiosk keeps serving with the previous model meanwhile.

The package, one module per concern:

- :mod:`.run`: the import itself (:func:`~.run.import_photos`, :func:`~.run.import_path`), photo by
  photo and batch by batch, and the training at the end;
- :mod:`.people`: who each photo of a source belongs to (names and external ids);
- :mod:`.lock`: one import at a time (the site lock ``import``) and the data dir's imports folder;
- :mod:`.journal`: the crop paths of the batch in progress, so a kill leaves no orphan crop;
- :mod:`.uploads`: the admin console's uploads, kept (staged) until their import finishes;
- :mod:`.job`: an import as a background job, with its progress bar;
- :mod:`.progress`: the counts an import reports as it goes, and durations for people.

Nothing here logs names, photos or embeddings.
"""
