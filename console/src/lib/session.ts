// The API key lives in sessionStorage only: gone when the tab closes, never sent as a
// cookie (so no CSRF), never in localStorage (which outlives the session).
const KEY = "payout-console.api-key";

export function getApiKey(): string | null {
  return sessionStorage.getItem(KEY);
}
export function setApiKey(key: string): void {
  sessionStorage.setItem(KEY, key);
}
export function clearSession(): void {
  sessionStorage.clear();
}
