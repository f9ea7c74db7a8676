"""The PySide6 front end over wasmbay.core."""
