/**
 * What engines import (`slack-approval-gate/client`): check a decision before running a step.
 */
export { verifyDecision, type VerifyOptions, type VerifyResult, type VerifyFailure } from './verify-decision.js';
export { DecisionSchema, type Decision, type DecisionSignature } from '../domain/contract.js';
