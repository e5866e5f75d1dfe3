from __future__ import annotations

from offerwise.model.slices import ALL, slug


def test_category_folders_never_collide() -> None:
    names = ["ÄPFEL", "ÖPFEL", "果物", "野菜", "MEAT", "meat", "ALL", "all", ALL]
    folders = [slug(n) for n in names]
    assert len(set(folders)) == len(names)  # names that reduce to the same letters keep their own folder
    assert slug(ALL) == "all" and slug("ALL") != "all"  # no category can take the shared model's folder
    assert slug("MEAT") == slug("MEAT")  # stable across runs
