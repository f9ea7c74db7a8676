"""Small widgets, one concern each; they emit requests and show snapshots, nothing more."""
