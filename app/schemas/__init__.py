"""The API's shapes as marshmallow schemas: what each view reads and what it answers.

`fields` holds the field types (text without NUL, email, passwords, timestamps);
`requests` the bodies and query strings the views accept; `responses` the bodies they
answer, which the views' `@blp.response` dumps and the OpenAPI document describes.
"""
