"""Infrastructure shared by every domain: Redis connections, jobs, mail, files, images, request logs, the gunicorn worker."""
