"""A user's file: .ci/run type-checks it with mypy --strict against an installed copy
of openai_images (pip install . in a fresh venv). Each "type: ignore" marks a
mistake mypy must catch: --strict reports an ignore that is not needed."""

import asyncio

from openai_images import AsyncOpenAI, ImagesResponse, ImageStream, OpenAI

client = OpenAI()
result: ImagesResponse = client.images.generate(model="gpt-image-2", prompt="a cat", size="1024x1024")
stream: ImageStream = client.images.generate(prompt="a cat", stream=True)
raw = client.images.with_raw_response.edit(image="cat.png", prompt="a hat")
print(result.data[0].b64_json, stream.request_id, raw.parse().created)
client.images.generate(prompt="a cat", sise="1024x1024")  # type: ignore[call-overload]
client.images.generate(size="1024x1024")  # type: ignore[call-overload]
client.images.generate(prompt="a cat", n="2")  # type: ignore[call-overload]


async def main() -> None:
    async with AsyncOpenAI() as aclient:
        image = await aclient.images.generate(prompt="a cat")
        print(image.data[0].url)
        async for event in await aclient.images.generate(prompt="a cat", stream=True):
            print(event.type)
        async with aclient.images.with_streaming_response.generate(prompt="a cat") as response:
            print((await response.parse()).created)


asyncio.run(main())
