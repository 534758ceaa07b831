"""A small tinyserve client: python examples/client.py [BASE_URL] [--api-key KEY].

Draws a 7 the way a user would (dark ink on a white canvas), uploads it, asks
for the countries of a few surnames, and prints the answers.
"""

import argparse
import base64
import io

import httpx
from PIL import Image, ImageDraw


def drawn_seven() -> bytes:
    canvas = Image.new("L", (200, 200), 255)
    ImageDraw.Draw(canvas).line([(50, 40), (150, 40), (90, 170)], fill=0, width=16)
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("base_url", nargs="?", default="http://127.0.0.1:8000")
    parser.add_argument("--api-key", help="sent as Authorization: Bearer KEY")
    args = parser.parse_args()
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}

    with httpx.Client(base_url=args.base_url, headers=headers, timeout=10) as client:
        print("ready:", client.get("/health/ready").json()["status"])

        image = {"image_base64": base64.b64encode(drawn_seven()).decode()}
        digits = client.post("/v1/digits/predict", json={"images": [image], "top_k": 2})
        digits.raise_for_status()
        best = digits.json()["predictions"][0]
        print(f"digit: {best['digit']} (p={best['probability']:.3f}) by {digits.json()['model']}")
        print("server timing:", digits.headers["server-timing"])

        names = client.post("/v1/names/predict", json={"names": ["Nakamura", "Dvořák", "Иванов"]})
        names.raise_for_status()
        for prediction in names.json()["predictions"]:
            print(f"{prediction['name']}: {prediction['country']} (p={prediction['probability']:.2f})")


if __name__ == "__main__":
    main()
