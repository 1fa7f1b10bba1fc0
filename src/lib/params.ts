import { Type } from 'typebox';

/** The path parameters of the routes, one schema per shape, shared by the pages and the API. */
const Id = () => Type.Integer({ minimum: 1 });

export const ProjectParams = Type.Object({ projectId: Id() });
export const TaskParams = Type.Object({ projectId: Id(), taskId: Id() });
export const StageParams = Type.Object({ projectId: Id(), stageId: Id() });
export const StageRefParams = Type.Object({ projectId: Id(), stage: Type.String({ minLength: 1, description: 'Stage name (e.g. Label, Review_1) or id' }) });
export const MemberParams = Type.Object({ projectId: Id(), memberId: Id() });
export const ProjectUserParams = Type.Object({ projectId: Id(), userId: Id() });
export const UploadParams = Type.Object({ projectId: Id(), uploadId: Id() });
export const ExportParams = Type.Object({ projectId: Id(), exportId: Id() });
export const ArchiveParams = Type.Object({ projectId: Id(), archiveId: Id() });
export const OperationParams = Type.Object({ projectId: Id(), operationId: Id() });
export const UserParams = Type.Object({ userId: Id() });
