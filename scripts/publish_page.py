#!/usr/bin/env python3
"""`make publish-page STACK=<stack name>`: uploads page/ to the stack's page bucket
(template parameter IntegrationPage=Enabled) and writes the deployed config.json from the
stack's outputs: the API's URL and the hosted UI sign-in (authorization code + PKCE).

Uses boto3 from the deploy virtualenv (SAM CLI's dependency) and the usual AWS credentials.
CloudFront serves the bucket with caching disabled, so the new files show at once.
"""

import argparse
import json
import mimetypes
import pathlib
import sys

import boto3

PAGE = pathlib.Path(__file__).resolve().parent.parent / "page"
DOCS = PAGE.parent / "docs"
# The customer docs the page links to (local/src/page.rs LINKED_DOCS), uploaded as docs/<name>.
LINKED_DOCS = ["webhooks.md"]
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
NEEDED = ["ApiUrl", "PageUrl", "PageBucketName", "PageAuthDomain", "UserPoolClientId"]


def page_config(outputs):
    """The config.json the hosted page reads (page/config.json is the local one)."""
    return {
        "api_base_url": outputs["ApiUrl"],
        "auth": {
            "domain": outputs["PageAuthDomain"],
            "client_id": outputs["UserPoolClientId"],
            "redirect_uri": outputs["PageUrl"],
            "scope": "openid email",
        },
    }


def page_files(folder=PAGE):
    """(name, content type) of each file to upload: the page's files but its local config."""
    out = []
    for f in sorted(folder.iterdir()):
        ctype = TYPES.get(f.suffix.lower()) or mimetypes.guess_type(f.name)[0]
        if f.is_file() and not f.name.startswith(".") and f.name != "config.json" and ctype:
            out.append((f.name, ctype))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stack", required=True, help="the deployed stack's name")
    ap.add_argument("--region", help="its region (default: the AWS configuration's)")
    args = ap.parse_args()
    session = boto3.session.Session(region_name=args.region)
    stack = session.client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [k for k in NEEDED if k not in outputs]
    if missing:
        sys.exit(f"error: stack {args.stack} has no {', '.join(missing)} output: deploy it with "
                 "IntegrationPage=Enabled (and JwtIssuer empty) first; see docs/deploy.md")
    s3 = session.client("s3")
    bucket = outputs["PageBucketName"]
    for name, ctype in page_files():
        s3.put_object(Bucket=bucket, Key=name, Body=(PAGE / name).read_bytes(),
                      ContentType=ctype, CacheControl="no-cache")
        print(f"uploaded {name} ({ctype})")
    for name in LINKED_DOCS:
        s3.put_object(Bucket=bucket, Key=f"docs/{name}", Body=(DOCS / name).read_bytes(),
                      ContentType="text/plain; charset=utf-8", CacheControl="no-cache")
        print(f"uploaded docs/{name}")
    s3.put_object(Bucket=bucket, Key="config.json",
                  Body=json.dumps(page_config(outputs), indent=2).encode(),
                  ContentType="application/json", CacheControl="no-cache")
    print("uploaded config.json (API and sign-in of this stack)")
    print(f"the page: {outputs['PageUrl']}")


if __name__ == "__main__":
    main()
