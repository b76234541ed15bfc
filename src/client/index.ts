/**
 * What engines import (`slack-approval-gate/client`): ask for an approval, wait for its decision,
 * check the decision before running the step.
 */
export { createApprovalClient, type ApprovalClient, type ApprovalClientOptions, type ApprovalHandle, type ApprovalRequestInput, type BoundRequest } from './approval-client.js';
export type { WaitOptions } from './decision-waiter.js';
export { ApprovalCancelledError, ApprovalRequestError, DecisionMismatchError, DecisionTimeoutError, RedisUnavailableError, UntrustedDecisionError } from './errors.js';
export { checkDecisionBinding, checkDecisionSignature, verifyDecision, type BindingFailure, type DecisionBinding, type SignatureFailure, type VerifyOptions, type VerifyResult, type VerifyFailure } from './verify-decision.js';
export type { ApprovalStatus } from '../store/approval-status.js';
export { DecisionSchema, type Decision, type DecisionSignature } from '../domain/contract.js';
