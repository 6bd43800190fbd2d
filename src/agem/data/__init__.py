"""Data: raw datasets (``datasets``), the task-stream file format and the streams training reads."""
