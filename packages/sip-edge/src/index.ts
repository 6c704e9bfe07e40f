export {
  sipEdgeConfigReference,
  sipEdgeConfigSchema,
  sipEdgeOpsPort,
  sipEdgeRequiredWhen,
  type SipEdgeConfig,
} from './config.js';
export { createSipEdgeDaemon, type SipEdgeDaemon } from './daemon.js';
export {
  createDrachtioAdapter,
  routedSipMethods,
  type B2buaDialogs,
  type B2buaOptions,
  type B2buaProgress,
  type DrachtioAdapter,
  type DrachtioAdapterOptions,
  type ProxyOptions,
  type ProxyResult,
  type RoutedSipMethod,
  type SentInviteLike,
  type SipDialogLike,
  type SipHandler,
} from './srf.js';
export {
  createAccountStore,
  ha1,
  sipEdgeMigrations,
  validateDomain,
  validateUsername,
  type AccountStore,
  type AccountStoreOptions,
  type AddAccountInput,
  type DigestAlgorithm,
  type SipAccountSummary,
} from './accounts.js';
export {
  aorOf,
  contactExpires,
  createBindingStore,
  parseNameAddr,
  parseQ,
  parseSipUri,
  splitHeaderList,
  type Aor,
  type BindingStore,
  type BindingStoreOptions,
  type ContactChange,
  type ExpiryLimits,
  type NameAddr,
  type RegisterChange,
  type RegisterOutcome,
  type SipUriParts,
  type StoredBinding,
} from './bindings.js';
export type {
  AuthenticatedUser,
  Authenticator,
  Binding,
  BindingLookup,
  FloodControl,
  FloodVerdict,
  PbxNode,
  SipAccount,
  SipRequestLike,
  SipResponseLike,
} from './contracts.js';
export {
  callIdOf,
  challengeHeaders,
  checkNonce,
  createAuthenticator,
  createNonce,
  digestResponse,
  parseAuthorization,
  type AuthenticatorOptions,
  type Credentials,
  type NonceCheck,
} from './digest.js';
export {
  SipAccountNotFoundError,
  SipBindingConflictError,
  SipEdgeError,
  SipEdgeErrorCode,
  SipInvalidAccountError,
  SipInvalidArgumentError,
} from './errors.js';
export {
  createFloodControl,
  sourceKey,
  type FloodControlHandle,
  type FloodControlOptions,
} from './flood.js';
export {
  contactHeader,
  createRegistrar,
  type Registrar,
  type RegistrarOptions,
} from './registrar.js';

// ---- INVITE routing: PBX pool, call tracking and the INVITE handler ----------------------------
export {
  createCallTracker,
  dispositionFor,
  type CallDirection,
  type CallDisposition,
  type CallEventName,
  type CallInfo,
  type CallOutcome,
  type CallTracker,
  type CallTrackerOptions,
  type PublishCallEvent,
  type TrackedCall,
} from './calls.js';
export {
  createInviteHandler,
  createRoutePolicy,
  defaultPbxPrefixes,
  isDialString,
  parseTarget,
  type CallDialog,
  type InviteB2buaOptions,
  type InviteB2buaProgress,
  type InviteHandler,
  type InviteHandlerOptions,
  type InviteProxyOptions,
  type InviteSrf,
  type OutgoingInvite,
  type ProxyOutcome,
  type RoutePolicy,
  type RoutePolicyConfig,
  type SipTarget,
} from './invite.js';
export {
  createPbxPool,
  pbxNodesFromTopology,
  type PbxNodeState,
  type PbxPool,
  type PbxPoolOptions,
} from './pbx.js';
