NAME = "stalled_site"
