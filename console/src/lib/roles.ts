export type Role = "OPS" | "APPROVER" | "AUDITOR" | "PAYEE";

export interface NavItem {
  path: string;
  label: string;
}

const OPERATOR_NAV: NavItem[] = [
  { path: "/", label: "Overview" },
  { path: "/payouts", label: "Payouts" },
  { path: "/runs", label: "Runs" },
  { path: "/events", label: "Events" },
  { path: "/approvals", label: "Approvals" },
  { path: "/reconciliation", label: "Reconciliation" },
  { path: "/payees", label: "Payees" },
  { path: "/webhooks", label: "Webhooks" },
  { path: "/jobs", label: "Job runs" },
];
const OPS_ONLY: NavItem[] = [{ path: "/keys", label: "API keys" }];
const MERCHANT_NAV: NavItem[] = [
  { path: "/", label: "Balances" },
  { path: "/request", label: "Request payout" },
  { path: "/history", label: "Payout history" },
];

export function isOperator(role: Role): boolean {
  return role !== "PAYEE";
}

/** The screens a key's role may open; navigation and routing both follow it. */
export function navFor(role: Role): NavItem[] {
  if (role === "PAYEE") return MERCHANT_NAV;
  if (role === "OPS") return [...OPERATOR_NAV, ...OPS_ONLY];
  return OPERATOR_NAV;
}

export function mayOpen(role: Role, path: string): boolean {
  const first = `/${path.split("/")[1] ?? ""}`;
  return navFor(role).some((item) => item.path === first);
}
