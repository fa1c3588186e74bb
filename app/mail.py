"""Outgoing mail with two backends: `console` (logs the message, for development) and `smtp`.

Views do not call this directly: they queue messages with `app.outbox.send_mail`, which
delivers them off the request path and retries failures.
"""

import smtplib
import ssl
from email.message import EmailMessage

from flask import current_app


class MailError(Exception):
    """The message could not be handed to the mail server."""


def build(to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = current_app.config["MAIL_FROM"]
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


def _send_console(message: EmailMessage) -> None:
    # The console backend *is* the mailbox in development, so the body (with its link) is
    # shown; production deployments use MAIL_BACKEND=smtp.
    current_app.logger.info(
        "console mail to %s: %s\n%s", message["To"], message["Subject"], message.get_content()
    )


def _send_smtp(message: EmailMessage) -> None:
    config = current_app.config
    try:
        with smtplib.SMTP(
            config["SMTP_HOST"], config["SMTP_PORT"], timeout=config["SMTP_TIMEOUT"]
        ) as smtp:
            if config["SMTP_STARTTLS"]:
                smtp.starttls(context=ssl.create_default_context())
            if config["SMTP_USERNAME"]:
                smtp.login(config["SMTP_USERNAME"], config["SMTP_PASSWORD"])
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP delivery failed: {type(exc).__name__}") from exc


BACKENDS = {"console": _send_console, "smtp": _send_smtp}


def deliver(message: EmailMessage) -> None:
    """Send one message through the configured backend now; raise MailError."""
    BACKENDS[current_app.config["MAIL_BACKEND"]](message)
