/**
 * The references of a batch of new tasks, checked once per batch (tasks declare no foreign keys:
 * README, "Data integrity"): the project, its Label stage, the upload and the creator exist, and
 * the stage and project rows are locked `for key share` as a foreign-key check would, so a
 * concurrent removal of the stage waits for the batch and then finds it used. One row, or none.
 */
export const CREATE_TASKS_PARENTS_SQL = `select 1 from stages s join projects p on p.id = s.project_id
        where s.id = $2 and p.id = $1 and exists (select 1 from uploads u where u.id = $3 and u.project_id = $1)
          and ($4::bigint is null or exists (select 1 from users where id = $4))
        for key share of s, p`;

/**
 * Create (upload): a batch of new tasks with their pre-assigned assignments (mirrored on the task)
 * and default answers, in one statement over the upload's staging table `upload_stage`. No event
 * row per task: a task's history shows its creation from the task row (its upload, creator and
 * created_at; TaskDetailService.creationEvent). The upload job runs it on its own connection
 * (UploadProcessingSession) with the parameters ($1 project, $2 Label stage, $3 upload, $4 creator).
 * It answers with the staged rows that became no task (duplicate names) only.
 *
 * Every staged row is either inserted or returned as a duplicate; existing tasks are looked up for
 * those rows alone (one index probe each), never by scanning the project's tasks.
 */
export const CREATE_TASKS_SQL = `with s as (
         select distinct on (name) * from upload_stage order by name, row_number
       ), ins as (
         insert into tasks (project_id, name, data, metadata, pre_assign, stage_id, priority, priority_score, client_batch_id,
                            upload_id, created_by_id, assignment_id, assignee_id, assignment_status, assignment_kind)
         select $1, s.name, s.data, s.metadata, s.pre_assign, $2, s.priority, s.priority_score, s.client_batch_id, $3, $4,
                case when s.assignee_id is not null then nextval(pg_get_serial_sequence('assignments', 'id')) end,
                s.assignee_id, case when s.assignee_id is not null then 'assigned' end, s.assignment_kind
           from s order by s.row_number
         -- names are unique among the live tasks of a project (an archived name may come again)
         on conflict (project_id, name) where archive_id is null do nothing
         returning id, name, assignment_id, assignee_id, assignment_kind
       ), asg as (
         insert into assignments (id, task_id, stage_id, user_id, status, kind)
         select assignment_id, id, $2, assignee_id, 'assigned', assignment_kind from ins where assignment_id is not null
       ), ans as (
         insert into answer_sets (task_id, kind, answers)
         select ins.id, 'default', s.answers from ins join s using (name) where s.answers is not null
       ), dup as (
         select st.row_number, st.name, first.row_number as first_row
           from upload_stage st join s first using (name)
          where not exists (select from ins where ins.name = st.name and first.row_number = st.row_number)
       )
       select d.row_number,
              case when t.id is not null and t.upload_id is distinct from $3 then 'already exists in this project (task ' || t.id || ')'
                   when d.first_row < d.row_number then 'appears earlier in this file (row ' || d.first_row || ')'
                   else 'appears earlier in this file' end as message
         from dup d
         left join lateral (select id, upload_id from tasks where project_id = $1 and name = d.name and archive_id is null limit 1) t on true
        order by d.row_number`;
