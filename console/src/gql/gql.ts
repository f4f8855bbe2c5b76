/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  query Me {\n    me { id name role owner prefix payee { id name } }\n  }\n": typeof types.MeDocument,
    "\n  query ApiKeys {\n    apiKeys(first: 100) { edges { node { id prefix name role owner payeeId createdAt lastUsedAt revokedAt } } }\n  }\n": typeof types.ApiKeysDocument,
    "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { secret apiKey { id prefix } userErrors { field code message } }\n  }\n": typeof types.CreateApiKeyDocument,
    "\n  query Merchant($payeeId: ID!) {\n    payee(id: $payeeId) {\n      id name reference\n      accountInUse { id holderName railCode currency details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n  }\n": typeof types.MerchantDocument,
    "\n  mutation CreatePayout($input: CreatePayoutInput!) {\n    createPayout(input: $input) {\n      payout { id status amount { amount currency } createdAt }\n      replayed\n      userErrors { field code message }\n    }\n  }\n": typeof types.CreatePayoutDocument,
    "\n  query History($payeeId: ID!, $after: String) {\n    payouts(filter: { payeeId: $payeeId }, first: 25, after: $after) {\n      edges { node { ...HistoryRow } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n  fragment HistoryRow on Payout {\n    id status createdAt updatedAt failureReason railCode amount { amount currency } idempotencyKey\n  }\n": typeof types.HistoryDocument,
    "\n  subscription PayoutUpdated($payeeId: ID!) {\n    payoutUpdated(payeeId: $payeeId) { ...HistoryRow }\n  }\n": typeof types.PayoutUpdatedDocument,
    "\n  mutation CancelPayout($input: CancelPayoutInput!) {\n    cancelPayout(input: $input) {\n      payout { ...HistoryRow }\n      userErrors { field code message }\n    }\n  }\n": typeof types.CancelPayoutDocument,
    "\n  query Overview {\n    runs(first: 20) { edges { node { id status startedAt total created skipped failed inFlight event { code name } } } }\n    openBreaks: reconciliationBreaks(filter: { status: OPEN }, first: 100) {\n      edges { node { id kind detail provider firstSeenAt payout { id } } }\n      pageInfo { hasNextPage }\n    }\n    failed: payouts(filter: { status: FAILED }, first: 100) { edges { node { ...ProblemPayout } } }\n    returned: payouts(filter: { status: RETURNED }, first: 100) { edges { node { ...ProblemPayout } } }\n    jobRuns(first: 100) { edges { node { id job status trigger startedAt finishedAt error } } }\n  }\n  fragment ProblemPayout on Payout {\n    id status updatedAt country railCode failureCode failureReason amount { amount currency } payee { name }\n  }\n": typeof types.OverviewDocument,
    "\n  query JobRuns($after: String) {\n    jobRuns(first: 50, after: $after) {\n      edges { node { id job status trigger startedAt finishedAt error } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.JobRunsDocument,
    "\n  query Payees($search: String, $after: String) {\n    payees(filter: { search: $search }, first: 25, after: $after) {\n      edges { node { id reference name kind country paymentMethod createdAt accountInUse { id railCode } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.PayeesDocument,
    "\n  query Payee($id: ID!) {\n    payee(id: $id) {\n      id reference name kind country paymentMethod email createdAt\n      bankAccounts { id holderName country currency railCode inUse retiredAt createdAt details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n    rails { code name currency countries requiredFields }\n  }\n": typeof types.PayeeDocument,
    "\n  mutation AddBankAccount($input: AddBankAccountInput!) {\n    addBankAccount(input: $input) {\n      bankAccount { id }\n      userErrors { field code message }\n    }\n  }\n": typeof types.AddBankAccountDocument,
    "\n  query Payouts($filter: PayoutFilter, $after: String) {\n    payouts(filter: $filter, first: 25, after: $after) {\n      edges { node { id status country railCode createdAt updatedAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.PayoutsDocument,
    "\n  query Payout($id: ID!) {\n    payout(id: $id) {\n      id status idempotencyKey country railCode provider providerOrderId routingRule fxRate\n      expectedSettlementDate skipReason skipDetail failureCode failureReason createdAt updatedAt\n      amount { amount currency } targetAmount { amount currency }\n      rail { code name currency }\n      payee { id name reference }\n      event { id code name }\n      trace { id occurredAt action actor detail }\n      ledgerEntries { id transferId kind account side phase createdAt amount { amount currency } }\n    }\n  }\n": typeof types.PayoutDocument,
    "\n  query Reconciliation($status: BreakStatus, $after: String) {\n    reconciliationRuns(first: 10) {\n      edges { node { id businessDate status trigger attempts startedAt finishedAt error } }\n    }\n    reconciliationBreaks(filter: { status: $status }, first: 25, after: $after) {\n      edges { node { id kind status detail provider providerOrderId firstSeenAt lastSeenAt payout { id } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.ReconciliationDocument,
    "\n  mutation RunReconciliation {\n    runReconciliation(input: {}) {\n      reconciliationRun { id businessDate status }\n      userErrors { field code message }\n    }\n  }\n": typeof types.RunReconciliationDocument,
    "\n  query BreakDetail($after: String) {\n    reconciliationBreaks(first: 100, after: $after) {\n      edges { node { id kind status detail evidence provider providerOrderId firstSeenAt lastSeenAt resolvedAt resolvedBy resolutionNote payout { id status } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.BreakDetailDocument,
    "\n  mutation ResolveBreak($input: ResolveBreakInput!) {\n    resolveBreak(input: $input) {\n      break { id status resolvedAt resolvedBy resolutionNote }\n      userErrors { field code message }\n    }\n  }\n": typeof types.ResolveBreakDocument,
    "\n  query Runs($after: String) {\n    runs(first: 25, after: $after) {\n      edges { node { id status startedAt finishedAt total created skipped failed inFlight event { code name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": typeof types.RunsDocument,
    "\n  query Run($id: ID!, $after: String) {\n    run(id: $id) {\n      id status idempotencyKey startedAt finishedAt total created skipped failed inFlight alreadySubmitted\n      event { id code name fundName total { amount currency } }\n      skipBreakdown { reason count }\n      payouts(first: 25, after: $after) {\n        edges { node { id status country railCode createdAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n": typeof types.RunDocument,
};
const documents: Documents = {
    "\n  query Me {\n    me { id name role owner prefix payee { id name } }\n  }\n": types.MeDocument,
    "\n  query ApiKeys {\n    apiKeys(first: 100) { edges { node { id prefix name role owner payeeId createdAt lastUsedAt revokedAt } } }\n  }\n": types.ApiKeysDocument,
    "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { secret apiKey { id prefix } userErrors { field code message } }\n  }\n": types.CreateApiKeyDocument,
    "\n  query Merchant($payeeId: ID!) {\n    payee(id: $payeeId) {\n      id name reference\n      accountInUse { id holderName railCode currency details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n  }\n": types.MerchantDocument,
    "\n  mutation CreatePayout($input: CreatePayoutInput!) {\n    createPayout(input: $input) {\n      payout { id status amount { amount currency } createdAt }\n      replayed\n      userErrors { field code message }\n    }\n  }\n": types.CreatePayoutDocument,
    "\n  query History($payeeId: ID!, $after: String) {\n    payouts(filter: { payeeId: $payeeId }, first: 25, after: $after) {\n      edges { node { ...HistoryRow } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n  fragment HistoryRow on Payout {\n    id status createdAt updatedAt failureReason railCode amount { amount currency } idempotencyKey\n  }\n": types.HistoryDocument,
    "\n  subscription PayoutUpdated($payeeId: ID!) {\n    payoutUpdated(payeeId: $payeeId) { ...HistoryRow }\n  }\n": types.PayoutUpdatedDocument,
    "\n  mutation CancelPayout($input: CancelPayoutInput!) {\n    cancelPayout(input: $input) {\n      payout { ...HistoryRow }\n      userErrors { field code message }\n    }\n  }\n": types.CancelPayoutDocument,
    "\n  query Overview {\n    runs(first: 20) { edges { node { id status startedAt total created skipped failed inFlight event { code name } } } }\n    openBreaks: reconciliationBreaks(filter: { status: OPEN }, first: 100) {\n      edges { node { id kind detail provider firstSeenAt payout { id } } }\n      pageInfo { hasNextPage }\n    }\n    failed: payouts(filter: { status: FAILED }, first: 100) { edges { node { ...ProblemPayout } } }\n    returned: payouts(filter: { status: RETURNED }, first: 100) { edges { node { ...ProblemPayout } } }\n    jobRuns(first: 100) { edges { node { id job status trigger startedAt finishedAt error } } }\n  }\n  fragment ProblemPayout on Payout {\n    id status updatedAt country railCode failureCode failureReason amount { amount currency } payee { name }\n  }\n": types.OverviewDocument,
    "\n  query JobRuns($after: String) {\n    jobRuns(first: 50, after: $after) {\n      edges { node { id job status trigger startedAt finishedAt error } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.JobRunsDocument,
    "\n  query Payees($search: String, $after: String) {\n    payees(filter: { search: $search }, first: 25, after: $after) {\n      edges { node { id reference name kind country paymentMethod createdAt accountInUse { id railCode } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.PayeesDocument,
    "\n  query Payee($id: ID!) {\n    payee(id: $id) {\n      id reference name kind country paymentMethod email createdAt\n      bankAccounts { id holderName country currency railCode inUse retiredAt createdAt details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n    rails { code name currency countries requiredFields }\n  }\n": types.PayeeDocument,
    "\n  mutation AddBankAccount($input: AddBankAccountInput!) {\n    addBankAccount(input: $input) {\n      bankAccount { id }\n      userErrors { field code message }\n    }\n  }\n": types.AddBankAccountDocument,
    "\n  query Payouts($filter: PayoutFilter, $after: String) {\n    payouts(filter: $filter, first: 25, after: $after) {\n      edges { node { id status country railCode createdAt updatedAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.PayoutsDocument,
    "\n  query Payout($id: ID!) {\n    payout(id: $id) {\n      id status idempotencyKey country railCode provider providerOrderId routingRule fxRate\n      expectedSettlementDate skipReason skipDetail failureCode failureReason createdAt updatedAt\n      amount { amount currency } targetAmount { amount currency }\n      rail { code name currency }\n      payee { id name reference }\n      event { id code name }\n      trace { id occurredAt action actor detail }\n      ledgerEntries { id transferId kind account side phase createdAt amount { amount currency } }\n    }\n  }\n": types.PayoutDocument,
    "\n  query Reconciliation($status: BreakStatus, $after: String) {\n    reconciliationRuns(first: 10) {\n      edges { node { id businessDate status trigger attempts startedAt finishedAt error } }\n    }\n    reconciliationBreaks(filter: { status: $status }, first: 25, after: $after) {\n      edges { node { id kind status detail provider providerOrderId firstSeenAt lastSeenAt payout { id } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.ReconciliationDocument,
    "\n  mutation RunReconciliation {\n    runReconciliation(input: {}) {\n      reconciliationRun { id businessDate status }\n      userErrors { field code message }\n    }\n  }\n": types.RunReconciliationDocument,
    "\n  query BreakDetail($after: String) {\n    reconciliationBreaks(first: 100, after: $after) {\n      edges { node { id kind status detail evidence provider providerOrderId firstSeenAt lastSeenAt resolvedAt resolvedBy resolutionNote payout { id status } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.BreakDetailDocument,
    "\n  mutation ResolveBreak($input: ResolveBreakInput!) {\n    resolveBreak(input: $input) {\n      break { id status resolvedAt resolvedBy resolutionNote }\n      userErrors { field code message }\n    }\n  }\n": types.ResolveBreakDocument,
    "\n  query Runs($after: String) {\n    runs(first: 25, after: $after) {\n      edges { node { id status startedAt finishedAt total created skipped failed inFlight event { code name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n": types.RunsDocument,
    "\n  query Run($id: ID!, $after: String) {\n    run(id: $id) {\n      id status idempotencyKey startedAt finishedAt total created skipped failed inFlight alreadySubmitted\n      event { id code name fundName total { amount currency } }\n      skipBreakdown { reason count }\n      payouts(first: 25, after: $after) {\n        edges { node { id status country railCode createdAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n": types.RunDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me { id name role owner prefix payee { id name } }\n  }\n"): (typeof documents)["\n  query Me {\n    me { id name role owner prefix payee { id name } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query ApiKeys {\n    apiKeys(first: 100) { edges { node { id prefix name role owner payeeId createdAt lastUsedAt revokedAt } } }\n  }\n"): (typeof documents)["\n  query ApiKeys {\n    apiKeys(first: 100) { edges { node { id prefix name role owner payeeId createdAt lastUsedAt revokedAt } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { secret apiKey { id prefix } userErrors { field code message } }\n  }\n"): (typeof documents)["\n  mutation CreateApiKey($input: CreateApiKeyInput!) {\n    createApiKey(input: $input) { secret apiKey { id prefix } userErrors { field code message } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Merchant($payeeId: ID!) {\n    payee(id: $payeeId) {\n      id name reference\n      accountInUse { id holderName railCode currency details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n  }\n"): (typeof documents)["\n  query Merchant($payeeId: ID!) {\n    payee(id: $payeeId) {\n      id name reference\n      accountInUse { id holderName railCode currency details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreatePayout($input: CreatePayoutInput!) {\n    createPayout(input: $input) {\n      payout { id status amount { amount currency } createdAt }\n      replayed\n      userErrors { field code message }\n    }\n  }\n"): (typeof documents)["\n  mutation CreatePayout($input: CreatePayoutInput!) {\n    createPayout(input: $input) {\n      payout { id status amount { amount currency } createdAt }\n      replayed\n      userErrors { field code message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query History($payeeId: ID!, $after: String) {\n    payouts(filter: { payeeId: $payeeId }, first: 25, after: $after) {\n      edges { node { ...HistoryRow } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n  fragment HistoryRow on Payout {\n    id status createdAt updatedAt failureReason railCode amount { amount currency } idempotencyKey\n  }\n"): (typeof documents)["\n  query History($payeeId: ID!, $after: String) {\n    payouts(filter: { payeeId: $payeeId }, first: 25, after: $after) {\n      edges { node { ...HistoryRow } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n  fragment HistoryRow on Payout {\n    id status createdAt updatedAt failureReason railCode amount { amount currency } idempotencyKey\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription PayoutUpdated($payeeId: ID!) {\n    payoutUpdated(payeeId: $payeeId) { ...HistoryRow }\n  }\n"): (typeof documents)["\n  subscription PayoutUpdated($payeeId: ID!) {\n    payoutUpdated(payeeId: $payeeId) { ...HistoryRow }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelPayout($input: CancelPayoutInput!) {\n    cancelPayout(input: $input) {\n      payout { ...HistoryRow }\n      userErrors { field code message }\n    }\n  }\n"): (typeof documents)["\n  mutation CancelPayout($input: CancelPayoutInput!) {\n    cancelPayout(input: $input) {\n      payout { ...HistoryRow }\n      userErrors { field code message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Overview {\n    runs(first: 20) { edges { node { id status startedAt total created skipped failed inFlight event { code name } } } }\n    openBreaks: reconciliationBreaks(filter: { status: OPEN }, first: 100) {\n      edges { node { id kind detail provider firstSeenAt payout { id } } }\n      pageInfo { hasNextPage }\n    }\n    failed: payouts(filter: { status: FAILED }, first: 100) { edges { node { ...ProblemPayout } } }\n    returned: payouts(filter: { status: RETURNED }, first: 100) { edges { node { ...ProblemPayout } } }\n    jobRuns(first: 100) { edges { node { id job status trigger startedAt finishedAt error } } }\n  }\n  fragment ProblemPayout on Payout {\n    id status updatedAt country railCode failureCode failureReason amount { amount currency } payee { name }\n  }\n"): (typeof documents)["\n  query Overview {\n    runs(first: 20) { edges { node { id status startedAt total created skipped failed inFlight event { code name } } } }\n    openBreaks: reconciliationBreaks(filter: { status: OPEN }, first: 100) {\n      edges { node { id kind detail provider firstSeenAt payout { id } } }\n      pageInfo { hasNextPage }\n    }\n    failed: payouts(filter: { status: FAILED }, first: 100) { edges { node { ...ProblemPayout } } }\n    returned: payouts(filter: { status: RETURNED }, first: 100) { edges { node { ...ProblemPayout } } }\n    jobRuns(first: 100) { edges { node { id job status trigger startedAt finishedAt error } } }\n  }\n  fragment ProblemPayout on Payout {\n    id status updatedAt country railCode failureCode failureReason amount { amount currency } payee { name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query JobRuns($after: String) {\n    jobRuns(first: 50, after: $after) {\n      edges { node { id job status trigger startedAt finishedAt error } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query JobRuns($after: String) {\n    jobRuns(first: 50, after: $after) {\n      edges { node { id job status trigger startedAt finishedAt error } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Payees($search: String, $after: String) {\n    payees(filter: { search: $search }, first: 25, after: $after) {\n      edges { node { id reference name kind country paymentMethod createdAt accountInUse { id railCode } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query Payees($search: String, $after: String) {\n    payees(filter: { search: $search }, first: 25, after: $after) {\n      edges { node { id reference name kind country paymentMethod createdAt accountInUse { id railCode } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Payee($id: ID!) {\n    payee(id: $id) {\n      id reference name kind country paymentMethod email createdAt\n      bankAccounts { id holderName country currency railCode inUse retiredAt createdAt details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n    rails { code name currency countries requiredFields }\n  }\n"): (typeof documents)["\n  query Payee($id: ID!) {\n    payee(id: $id) {\n      id reference name kind country paymentMethod email createdAt\n      bankAccounts { id holderName country currency railCode inUse retiredAt createdAt details { name value } }\n      balances { id currency available { amount currency } postedBalance { amount currency } pendingDebits { amount currency } }\n    }\n    rails { code name currency countries requiredFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AddBankAccount($input: AddBankAccountInput!) {\n    addBankAccount(input: $input) {\n      bankAccount { id }\n      userErrors { field code message }\n    }\n  }\n"): (typeof documents)["\n  mutation AddBankAccount($input: AddBankAccountInput!) {\n    addBankAccount(input: $input) {\n      bankAccount { id }\n      userErrors { field code message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Payouts($filter: PayoutFilter, $after: String) {\n    payouts(filter: $filter, first: 25, after: $after) {\n      edges { node { id status country railCode createdAt updatedAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query Payouts($filter: PayoutFilter, $after: String) {\n    payouts(filter: $filter, first: 25, after: $after) {\n      edges { node { id status country railCode createdAt updatedAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Payout($id: ID!) {\n    payout(id: $id) {\n      id status idempotencyKey country railCode provider providerOrderId routingRule fxRate\n      expectedSettlementDate skipReason skipDetail failureCode failureReason createdAt updatedAt\n      amount { amount currency } targetAmount { amount currency }\n      rail { code name currency }\n      payee { id name reference }\n      event { id code name }\n      trace { id occurredAt action actor detail }\n      ledgerEntries { id transferId kind account side phase createdAt amount { amount currency } }\n    }\n  }\n"): (typeof documents)["\n  query Payout($id: ID!) {\n    payout(id: $id) {\n      id status idempotencyKey country railCode provider providerOrderId routingRule fxRate\n      expectedSettlementDate skipReason skipDetail failureCode failureReason createdAt updatedAt\n      amount { amount currency } targetAmount { amount currency }\n      rail { code name currency }\n      payee { id name reference }\n      event { id code name }\n      trace { id occurredAt action actor detail }\n      ledgerEntries { id transferId kind account side phase createdAt amount { amount currency } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Reconciliation($status: BreakStatus, $after: String) {\n    reconciliationRuns(first: 10) {\n      edges { node { id businessDate status trigger attempts startedAt finishedAt error } }\n    }\n    reconciliationBreaks(filter: { status: $status }, first: 25, after: $after) {\n      edges { node { id kind status detail provider providerOrderId firstSeenAt lastSeenAt payout { id } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query Reconciliation($status: BreakStatus, $after: String) {\n    reconciliationRuns(first: 10) {\n      edges { node { id businessDate status trigger attempts startedAt finishedAt error } }\n    }\n    reconciliationBreaks(filter: { status: $status }, first: 25, after: $after) {\n      edges { node { id kind status detail provider providerOrderId firstSeenAt lastSeenAt payout { id } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RunReconciliation {\n    runReconciliation(input: {}) {\n      reconciliationRun { id businessDate status }\n      userErrors { field code message }\n    }\n  }\n"): (typeof documents)["\n  mutation RunReconciliation {\n    runReconciliation(input: {}) {\n      reconciliationRun { id businessDate status }\n      userErrors { field code message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query BreakDetail($after: String) {\n    reconciliationBreaks(first: 100, after: $after) {\n      edges { node { id kind status detail evidence provider providerOrderId firstSeenAt lastSeenAt resolvedAt resolvedBy resolutionNote payout { id status } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query BreakDetail($after: String) {\n    reconciliationBreaks(first: 100, after: $after) {\n      edges { node { id kind status detail evidence provider providerOrderId firstSeenAt lastSeenAt resolvedAt resolvedBy resolutionNote payout { id status } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ResolveBreak($input: ResolveBreakInput!) {\n    resolveBreak(input: $input) {\n      break { id status resolvedAt resolvedBy resolutionNote }\n      userErrors { field code message }\n    }\n  }\n"): (typeof documents)["\n  mutation ResolveBreak($input: ResolveBreakInput!) {\n    resolveBreak(input: $input) {\n      break { id status resolvedAt resolvedBy resolutionNote }\n      userErrors { field code message }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Runs($after: String) {\n    runs(first: 25, after: $after) {\n      edges { node { id status startedAt finishedAt total created skipped failed inFlight event { code name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"): (typeof documents)["\n  query Runs($after: String) {\n    runs(first: 25, after: $after) {\n      edges { node { id status startedAt finishedAt total created skipped failed inFlight event { code name } } }\n      pageInfo { hasNextPage endCursor }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Run($id: ID!, $after: String) {\n    run(id: $id) {\n      id status idempotencyKey startedAt finishedAt total created skipped failed inFlight alreadySubmitted\n      event { id code name fundName total { amount currency } }\n      skipBreakdown { reason count }\n      payouts(first: 25, after: $after) {\n        edges { node { id status country railCode createdAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n"): (typeof documents)["\n  query Run($id: ID!, $after: String) {\n    run(id: $id) {\n      id status idempotencyKey startedAt finishedAt total created skipped failed inFlight alreadySubmitted\n      event { id code name fundName total { amount currency } }\n      skipBreakdown { reason count }\n      payouts(first: 25, after: $after) {\n        edges { node { id status country railCode createdAt amount { amount currency } targetAmount { amount currency } payee { id name } } }\n        pageInfo { hasNextPage endCursor }\n      }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;