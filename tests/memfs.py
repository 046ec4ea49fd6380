"""An in-memory Beam filesystem, ``memfs://``, with object-store (GCS) semantics.

Beam ships no in-memory filesystem outside its own test modules, so this one
stands in for ``gs://`` in tests: it is registered simply by being imported
(Beam finds every ``FileSystem`` subclass by its scheme) and, living in this
process, it is shared with the in-process FnApiRunner's workers.

Like GCS, and unlike the local filesystem, it has no folders: ``mkdirs`` does
nothing, ``exists(folder)`` is False, listing is by prefix, ``delete`` of a path
ending in ``/`` removes everything under it, and a written object appears only
when its handle is closed. Code that only works with real folders, or that
bypasses ``FileSystems`` with ``open``/``os``, fails against it.
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from typing import ClassVar

from apache_beam.io.filesystem import (
    BeamIOError,
    CompressedFile,
    CompressionTypes,
    FileMetadata,
    FileSystem,
)

SCHEME = "memfs"
PREFIX = f"{SCHEME}://"


class _Object:
    __slots__ = ("data", "updated")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.updated = time.time()


class _Upload(io.BytesIO):
    """Buffers a write; the object becomes visible on close (as on GCS)."""

    def __init__(self, store: MemoryFileSystem, path: str) -> None:
        super().__init__()
        self._store = store
        self._path = path

    def close(self) -> None:
        if not self.closed:
            self._store._put(self._path, self.getvalue())
        super().close()


class MemoryFileSystem(FileSystem):
    _objects: ClassVar[dict[str, _Object]] = {}
    _guard: ClassVar[threading.RLock] = threading.RLock()

    @classmethod
    def scheme(cls) -> str:
        return SCHEME

    # -- helpers for tests ---------------------------------------------------------
    @classmethod
    def reset(cls) -> None:
        with cls._guard:
            cls._objects.clear()

    @classmethod
    def paths(cls, prefix: str = PREFIX) -> list[str]:
        with cls._guard:
            return sorted(p for p in cls._objects if p.startswith(prefix))

    @classmethod
    def read(cls, path: str) -> bytes:
        with cls._guard:
            if path not in cls._objects:
                raise FileNotFoundError(path)
            return cls._objects[path].data

    @classmethod
    def _put(cls, path: str, data: bytes) -> None:
        _check(path)
        with cls._guard:
            cls._objects[path] = _Object(bytes(data))

    @classmethod
    def write(cls, path: str, data: bytes) -> None:
        cls._put(path, data)

    # -- FileSystem ------------------------------------------------------------------
    def join(self, basepath: str, *paths: str) -> str:
        _check(basepath)
        path = basepath
        for part in paths:
            path = path.rstrip("/") + "/" + part.lstrip("/")
        return path

    def split(self, path: str) -> tuple[str, str]:
        _check(path)
        path = path.strip()
        last = path.rfind("/", len(PREFIX))
        if last < 0:
            return path, ""
        return path[:last], path[last + 1 :]

    def mkdirs(self, path: str) -> None:
        _check(path)  # no folders on an object store

    def has_dirs(self) -> bool:
        return False

    def _list(self, dir_or_prefix: str):
        with self._guard:
            found = [(p, o) for p, o in self._objects.items() if p.startswith(dir_or_prefix)]
        for path, obj in sorted(found):
            yield FileMetadata(path, len(obj.data), obj.updated)

    def _path_open(self, path, mode, mime_type, compression_type):
        compression_type = FileSystem._get_compression_type(path, compression_type)
        raw = _Upload(self, path) if mode == "wb" else io.BytesIO(self._get(path).data)
        if compression_type == CompressionTypes.UNCOMPRESSED:
            return raw
        return CompressedFile(raw, compression_type=compression_type)

    def create(
        self,
        path,
        mime_type="application/octet-stream",
        compression_type=CompressionTypes.AUTO,
    ):
        _check(path)
        return self._path_open(path, "wb", mime_type, compression_type)

    def open(
        self,
        path,
        mime_type="application/octet-stream",
        compression_type=CompressionTypes.AUTO,
    ):
        return self._path_open(path, "rb", mime_type, compression_type)

    def _get(self, path: str) -> _Object:
        with self._guard:
            obj = self._objects.get(path)
        if obj is None:
            raise BeamIOError("Not found", {path: FileNotFoundError(path)})
        return obj

    def copy(self, source_file_names, destination_file_names):
        assert len(source_file_names) == len(destination_file_names)
        errors = {}
        for source, destination in zip(source_file_names, destination_file_names, strict=True):
            try:
                if source.endswith("/"):
                    for path in self.paths(source):
                        self._put(destination + path[len(source) :], self._get(path).data)
                else:
                    self._put(destination, self._get(source).data)
            except Exception as error:
                errors[(source, destination)] = error
        if errors:
            raise BeamIOError("Copy operation failed", errors)

    def rename(self, source_file_names, destination_file_names):
        self.copy(source_file_names, destination_file_names)
        self.delete(list(source_file_names))

    def exists(self, path: str) -> bool:
        with self._guard:
            return path in self._objects

    def size(self, path: str) -> int:
        return len(self._get(path).data)

    def last_updated(self, path: str) -> float:
        return self._get(path).updated

    def checksum(self, path: str) -> str:
        return hashlib.md5(self._get(path).data).hexdigest()

    def metadata(self, path: str) -> FileMetadata:
        obj = self._get(path)
        return FileMetadata(path, len(obj.data), obj.updated)

    def delete(self, paths) -> None:
        with self._guard:
            for path in paths:
                if path.endswith("/"):
                    for found in [p for p in self._objects if p.startswith(path)]:
                        del self._objects[found]
                    continue
                # GCS semantics: a path (or glob) that matches nothing is not an error.
                for meta in self.match([path])[0].metadata_list:
                    self._objects.pop(meta.path, None)


def _check(path: str) -> None:
    if not path.startswith(PREFIX):
        raise ValueError(f"not a {PREFIX} path: {path!r}")
