"""Shipped hardware profiles (TOML). A package only so the files ship in the wheel."""
