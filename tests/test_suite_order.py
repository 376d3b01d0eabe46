"""The list of the longest test files, which only orders the suite, still names the files it orders."""

from pathlib import Path
from types import SimpleNamespace

from tests.conftest import LONGEST_FIRST, pytest_collection_modifyitems

TESTS = Path(__file__).parent


def test_every_file_named_longest_first_exists_once():
    missing = [name for name in LONGEST_FIRST if not (TESTS / name).is_file()]
    assert missing == [], f"renamed or removed: {missing}; update LONGEST_FIRST in tests/conftest.py"
    assert len(set(LONGEST_FIRST)) == len(LONGEST_FIRST)


def test_the_longest_files_come_first_each_whole_and_in_order():
    later, longest, second = "tests/a/test_short.py", f"tests/{LONGEST_FIRST[0]}", f"tests/{LONGEST_FIRST[1]}"
    items = [SimpleNamespace(nodeid=f"{file}::test_{n}") for n, file in
             enumerate([later, second, longest, later, second, longest])]
    pytest_collection_modifyitems(items)
    assert [item.nodeid for item in items] == [f"{longest}::test_2", f"{longest}::test_5", f"{second}::test_1",
                                              f"{second}::test_4", f"{later}::test_0", f"{later}::test_3"]
