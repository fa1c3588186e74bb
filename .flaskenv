# Settings of the `flask` command itself. Service configuration lives in the
# environment or in .env (made with random secrets on the first run).
FLASK_APP=wsgi:app
FLASK_RUN_HOST=127.0.0.1
FLASK_RUN_PORT=5000
