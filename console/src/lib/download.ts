import { getApiKey } from "./session";

/** Reports need the Authorization header, which a plain link cannot send: fetch the file
 *  with the key, then hand the browser a Blob to save under the server's file name. */
export async function downloadWithKey(path: string, fallbackName: string): Promise<void> {
  const response = await fetch(path, {
    headers: { Authorization: `Api-Key ${getApiKey() ?? ""}` },
    credentials: "omit",
  });
  if (!response.ok) {
    let message = `The server answered ${response.status}.`;
    try {
      const body = await response.json();
      message = body?.errors?.[0]?.message ?? message;
    } catch {
      /* not JSON */
    }
    throw new Error(message);
  }
  const disposition = response.headers.get("content-disposition") ?? "";
  const name = /filename="?([^";]+)"?/.exec(disposition)?.[1] ?? fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
