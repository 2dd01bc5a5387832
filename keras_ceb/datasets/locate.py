"""Find local copies of data files before anything is downloaded.

Search order, first hit wins:

1. the explicit `data_dir` argument,
2. the folders in the `KERAS_CEB_DATA` environment variable (`os.pathsep`
   separated),
3. the Keras cache, `$KERAS_HOME/datasets` (default `~/.keras/datasets`),
4. the Debian data path `/usr/share/datasets` (package
   `dataset-fashion-mnist`),

then, for the MNIST test set only, the copy shipped inside the package
(`PACKAGE_DATA_ROOT`, `keras_ceb/datasets/data/mnist-test/`), and only then a
download, done by the loaders. Inside the explicit
`data_dir` the files may lie directly or in a dataset subfolder (e.g.
`fashion-mnist/`); in the shared roots (2-4) only the subfolder counts, since
MNIST and Fashion-MNIST use the same file names. The roots are read at call
time from `ENV_VAR`, `KERAS_HOME`/`HOME`, `DEBIAN_ROOT` and
`PACKAGE_DATA_ROOT`, so tests can move them with `monkeypatch`. A folder that
cannot be examined (a name too long for the file system, no permission) is
reported in the list of places looked at, like a missing one, never raised.
"""

import dataclasses
import os
import pathlib

ENV_VAR = "KERAS_CEB_DATA"
DEBIAN_ROOT = pathlib.Path("/usr/share/datasets")
PACKAGE_DATA_ROOT = pathlib.Path(__file__).resolve().parent / "data"


class DatasetNotFoundError(FileNotFoundError):
    """No copy of a dataset was found, and none could be downloaded.

    The message lists every place looked at, in order, and how to get the
    data.

    Attributes:
        dataset: the dataset's display name.
        places: the places looked at, as strings, in search order.
        hints: the ways to get the data, as strings.
    """

    def __init__(self, dataset, places, hints):
        self.dataset = dataset
        self.places = list(places)
        self.hints = list(hints)
        lines = [f"Could not find {dataset}. Looked in, in this order:"]
        lines += [f"  {i}. {p}" for i, p in enumerate(self.places, 1)]
        lines.append("To get the data:")
        lines += [f"  - {h}" for h in hints]
        super().__init__("\n".join(lines))

    def __reduce__(self):
        return type(self), (self.dataset, self.places, self.hints)


def keras_home():
    """Returns the Keras home folder: `$KERAS_HOME`, else `~/.keras`."""
    home = os.environ.get("KERAS_HOME")
    if home:
        return pathlib.Path(home).expanduser()
    return pathlib.Path(os.path.expanduser("~")) / ".keras"


def keras_cache_dir():
    """Returns the folder where `keras.utils.get_file` keeps datasets."""
    return keras_home() / "datasets"


def search_roots(data_dir=None):
    """Lists the roots to search, in order, as `(source, path)` pairs.

    Args:
        data_dir: optional explicit folder, searched first.

    Returns:
        A list of `(source, pathlib.Path)` where `source` is one of
        `"data_dir argument"`, `"$KERAS_CEB_DATA"`, `"Keras cache"`,
        `"Debian path"`.

    Examples:

        >>> [source for source, _ in search_roots()]  # doctest: +SKIP
        ['Keras cache', 'Debian path']
    """
    roots = []
    if data_dir is not None:
        roots.append(("data_dir argument", pathlib.Path(data_dir).expanduser()))
    for entry in os.environ.get(ENV_VAR, "").split(os.pathsep):
        if entry:
            roots.append((f"${ENV_VAR}", pathlib.Path(entry).expanduser()))
    roots.append(("Keras cache", keras_cache_dir()))
    roots.append(("Debian path", pathlib.Path(DEBIAN_ROOT)))
    return roots


def _name_variants(name):
    """Spellings accepted for `name`: gzipped or not, `-idx` or `.idx`."""
    stems = [name]
    if "-idx" in name:
        stems.append(name.replace("-idx", ".idx", 1))
    return [s + ext for s in stems for ext in ("", ".gz")]


def resolve_file(directory, name):
    """Returns the path of `name` (any accepted spelling) in `directory`.

    Returns `None` when no spelling exists there.
    """
    for variant in _name_variants(name):
        path = directory / variant
        try:
            if path.is_file():
                return path
        except OSError:  # e.g. a name too long for the file system.
            continue
    return None


@dataclasses.dataclass(frozen=True)
class Found:
    """Where a dataset was found.

    Attributes:
        source: which search step found it (see `search_roots`).
        directory: the folder holding the files.
        files: mapping from each required base name to its actual path.
    """

    source: str
    directory: pathlib.Path
    files: dict


def check_folder(directory, file_sets):
    """Returns `(files, note)`: a dict if some set is complete, else a note."""
    try:
        if not directory.is_dir():
            return None, "no such folder"
    except OSError as e:  # e.g. ENAMETOOLONG, EACCES on a parent folder.
        return None, f"cannot be examined ({e.strerror or e})"
    notes = []
    for names in file_sets:
        files = {n: resolve_file(directory, n) for n in names}
        missing = [n for n, p in files.items() if p is None]
        if not missing:
            return files, None
        if len(missing) < len(names):
            notes.append("incomplete, missing " + ", ".join(missing))
    return None, "; ".join(notes) or "no matching files"


def find_files(file_sets, subdirs, data_dir=None, shared_file_sets=()):
    """Finds the first folder that holds a complete set of files.

    Args:
        file_sets: alternatives, each a tuple of base names that must all be
            present (e.g. the four idx files, or `("mnist.npz",)`). Each name
            also matches with `.gz` appended, and `-idx` spelled `.idx`.
        subdirs: dataset subfolder names to try under each root.
        data_dir: optional explicit folder, searched first; files may lie
            in it directly or in one of `subdirs`.
        shared_file_sets: the alternatives also accepted directly in a shared
            root (env var, Keras cache, Debian path): only those with a name
            that is unambiguous, like `mnist.npz`.

    Returns:
        A pair `(found, places)`: `found` is a `Found` or `None`, and
        `places` lists every folder looked at, with what was wrong there.

    Examples:

        >>> found, places = find_files(
        ...     [("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")],
        ...     subdirs=("mnist-test", "mnist"),
        ... )  # doctest: +SKIP
    """
    places = []
    for source, root in search_roots(data_dir):
        explicit = source == "data_dir argument"
        candidates = []
        if explicit:
            candidates.append((root, file_sets))
        elif shared_file_sets:
            candidates.append((root, shared_file_sets))
        candidates += [(root / s, file_sets) for s in subdirs]
        for directory, sets in candidates:
            files, note = check_folder(directory, sets)
            if files is not None:
                return Found(source, directory, files), places
            places.append(f"{directory} ({source}): {note}")
    return None, places
